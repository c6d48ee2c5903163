package jose

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Header is what Verify reports from a token's protected header.
type Header struct {
	Alg Alg
	Kid string
	Typ string
}

// Sign makes a compact JWS (a JWT) over claims with protected header
// {"alg":…,"kid":…,"typ":"JWT"}. claims is a struct or map, marshalled with
// encoding/json as compact JSON without HTML escaping (the Java SDK pulls
// "nonce":"…" out with a regex and does not unescape \u0026), or
// []byte/json.RawMessage holding JSON, which is compacted.
func Sign(k *Key, claims any) (string, error) {
	if k == nil {
		return "", fmt.Errorf("%w: nil key", ErrBadKey)
	}
	buf := claimsBuffers.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		claimsBuffers.Put(buf)
	}()
	payload, err := compactJSON(buf, claims)
	if err != nil {
		return "", err
	}
	return signPayload(k, payload)
}

// SignTyped is Sign with another typ in the protected header, for tokens
// that must not be taken for an ID token: a logout token is typed
// "logout+jwt" (OpenID Back-Channel Logout 1.0 §2.4), so that no
// verifier of ID tokens accepts one. Its header is made per call.
func SignTyped(k *Key, typ string, claims any) (string, error) {
	if k == nil {
		return "", fmt.Errorf("%w: nil key", ErrBadKey)
	}
	hdr, err := json.Marshal(struct {
		Alg Alg    `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg, k.kid, typ})
	if err != nil {
		return "", fmt.Errorf("jose: marshal header: %w", err)
	}
	var buf bytes.Buffer
	payload, err := compactJSON(&buf, claims)
	if err != nil {
		return "", err
	}
	typed := *k
	typed.header = []byte(base64.RawURLEncoding.EncodeToString(hdr))
	return signPayload(&typed, payload)
}

// claimsBuffers recycles the buffers claims are marshalled into: the payload
// is base64-encoded into the token, so its buffer is free again at once.
var claimsBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// compactJSON writes claims into buf as compact JSON and returns buf's
// bytes.
func compactJSON(buf *bytes.Buffer, claims any) ([]byte, error) {
	switch c := claims.(type) {
	case nil:
		return nil, fmt.Errorf("jose: nil claims")
	case []byte:
		if err := json.Compact(buf, c); err != nil {
			return nil, fmt.Errorf("jose: claims: %w", err)
		}
		return buf.Bytes(), nil
	case json.RawMessage:
		if err := json.Compact(buf, c); err != nil {
			return nil, fmt.Errorf("jose: claims: %w", err)
		}
		return buf.Bytes(), nil
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims); err != nil {
		return nil, fmt.Errorf("jose: marshal claims: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// signPayload writes the compact JWS itself. The protected header is fixed
// per key (alg, kid, typ), so its base64url form is made once, in newKey,
// and a token costs one payload encoding and one signature; jws.Sign
// rebuilt and marshalled the header and copied the token several times, a
// fifth of the cost of an ES256 signature. Signing parses nothing and
// leaves an attacker no choice to make; verification stays with jwx.
func signPayload(k *Key, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	input := make([]byte, 0, len(k.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(k.sigLen))
	input = append(input, k.header...)
	input = append(input, '.')
	input = enc.AppendEncode(input, payload)
	sig, err := k.sign(input)
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return string(enc.AppendEncode(append(input, '.'), sig)), nil
}

// sign is the JWS signature of input for k's alg (RFC 7518 §3.3-3.5, RFC
// 8037): PKCS#1 v1.5 or PSS (salt as long as the hash) over SHA-256 for
// RS256 and PS256, R||S as two 32-byte big-endian halves for ES256, Ed25519
// over the input itself for EdDSA.
func (k *Key) sign(input []byte) ([]byte, error) {
	if k.alg == EdDSA {
		priv, ok := k.priv.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %T for EdDSA", ErrBadKey, k.priv)
		}
		return ed25519.Sign(priv, input), nil
	}
	digest := sha256.Sum256(input)
	switch priv := k.priv.(type) {
	case *rsa.PrivateKey:
		if k.alg == PS256 {
			return rsa.SignPSS(rand.Reader, priv, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("%w: %T for %s", ErrBadKey, k.priv, k.alg)
}

// KeySet is a parsed public key set, indexed by kid, for Verify. It is
// immutable and safe for concurrent use.
type KeySet struct {
	keys map[string]setKey
}

type setKey struct {
	alg Alg // "" when the JWK has no alg: any alg fitting the key type
	pub crypto.PublicKey
}

// Len is the number of usable verification keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// KIDs lists the key IDs in the set (unordered).
func (s *KeySet) KIDs() []string {
	out := make([]string, 0, s.Len())
	if s != nil {
		for kid := range s.keys {
			out = append(out, kid)
		}
	}
	return out
}

var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// ParseJWKS reads a public JWK Set ({"keys":[…]}), e.g. one an SP
// registered for its request objects. It refuses the whole set if any key
// carries private or symmetric material (d, p, q, dp, dq, qi, k, oth), a
// duplicate kid, an unsupported alg, or a key too weak or unfit for its alg
// (RSA < 2048 bits, EC other than P-256, OKP other than Ed25519). Keys marked
// use=enc and keys without kid are skipped: Verify looks keys up by kid.
func ParseJWKS(b []byte) (*KeySet, error) {
	var raw struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: jwks: %v", ErrBadKey, err)
	}
	if raw.Keys == nil {
		return nil, fmt.Errorf("%w: jwks has no \"keys\" array", ErrBadKey)
	}
	for i, m := range raw.Keys {
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				return nil, fmt.Errorf("%w: key #%d has %q", ErrPrivateInSet, i, p)
			}
		}
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks: %v", ErrBadKey, err)
	}
	ks := &KeySet{keys: make(map[string]setKey, set.Len())}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if priv, err := jwk.IsPrivateKey(k); err == nil && priv || k.KeyType() == jwa.OctetSeq {
			return nil, fmt.Errorf("%w: key #%d", ErrPrivateInSet, i)
		}
		if k.KeyUsage() == string(jwk.ForEncryption) || k.KeyID() == "" {
			continue
		}
		var pub any
		if err := k.Raw(&pub); err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrBadKey, k.KeyID(), err)
		}
		alg := Alg(k.Algorithm().String())
		if alg != "" {
			if !alg.Supported() {
				return nil, fmt.Errorf("%w: key %q alg %q", ErrUnsupportedAlg, k.KeyID(), alg)
			}
			if err := checkKeyType(alg, pub); err != nil {
				return nil, fmt.Errorf("key %q: %w", k.KeyID(), err)
			}
		} else if algsFor(pub) == nil {
			return nil, fmt.Errorf("%w: key %q: %T fits no supported alg", ErrBadKey, k.KeyID(), pub)
		}
		if _, dup := ks.keys[k.KeyID()]; dup {
			return nil, fmt.Errorf("%w: duplicate kid %q", ErrBadKey, k.KeyID())
		}
		ks.keys[k.KeyID()] = setKey{alg: alg, pub: pub}
	}
	return ks, nil
}

// algsFor lists the algorithms a public key without "alg" may verify.
func algsFor(pub crypto.PublicKey) []Alg {
	var out []Alg
	for _, a := range Algs {
		if checkKeyType(a, pub) == nil {
			out = append(out, a)
		}
	}
	return out
}

// Verify checks a compact JWS against set and returns its payload and
// header. It refuses: JSON serialisation, alg "none" and any alg not in
// expectAlgs (at least one is required; only supported algs count), a
// missing or unknown kid, a key whose published alg differs from the
// header's or whose type does not fit it, and a bad signature.
func Verify(token string, set *KeySet, expectAlgs ...Alg) ([]byte, Header, error) {
	var h Header
	if len(expectAlgs) == 0 {
		return nil, h, fmt.Errorf("%w: no expected algorithms given", ErrAlgNotAllowed)
	}
	for _, a := range expectAlgs {
		if !a.Supported() {
			return nil, h, fmt.Errorf("%w: %q", ErrUnsupportedAlg, a)
		}
	}
	if strings.Count(token, ".") != 2 || strings.HasPrefix(strings.TrimSpace(token), "{") {
		return nil, h, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	if set == nil {
		return nil, h, fmt.Errorf("%w: no key set", ErrUnknownKid)
	}
	provider := jws.KeyProviderFunc(func(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
		ph := sig.ProtectedHeaders()
		h = Header{Alg: Alg(ph.Algorithm().String()), Kid: ph.KeyID(), Typ: ph.Type()}
		allowed := false
		for _, a := range expectAlgs {
			allowed = allowed || a == h.Alg
		}
		if !allowed {
			return fmt.Errorf("%w: %q", ErrAlgNotAllowed, h.Alg)
		}
		if h.Kid == "" {
			return fmt.Errorf("%w: token has no kid", ErrUnknownKid)
		}
		k, ok := set.keys[h.Kid]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownKid, h.Kid)
		}
		if k.alg != "" && k.alg != h.Alg {
			return fmt.Errorf("%w: key %q is for %s, token says %s", ErrAlgNotAllowed, h.Kid, k.alg, h.Alg)
		}
		if err := checkKeyType(h.Alg, k.pub); err != nil {
			return fmt.Errorf("%w: %v", ErrAlgNotAllowed, err)
		}
		sink.Key(h.Alg.jwa(), k.pub)
		return nil
	})
	payload, err := jws.Verify([]byte(token), jws.WithCompact(), jws.WithKeyProvider(provider))
	if err != nil {
		for _, e := range []error{ErrAlgNotAllowed, ErrUnknownKid, ErrUnsupportedAlg} {
			if errors.Is(err, e) {
				return nil, h, err
			}
		}
		if h.Alg == "" && h.Kid == "" {
			return nil, h, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil, h, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return payload, h, nil
}

// UnverifiedPayload is the payload of a compact JWS, decoded but not
// verified: only for choosing the key set to Verify it against, e.g. the
// client a client assertion says it comes from. Nothing in it may be
// trusted until Verify has returned the same payload.
func UnverifiedPayload(token string) ([]byte, error) {
	_, rest, ok := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	return b, nil
}

// VerifyJWKS is Verify with the key set given as JWKS JSON (parsed, and
// checked for private members, on every call: keep a *KeySet when verifying
// often).
func VerifyJWKS(token string, jwks []byte, expectAlgs ...Alg) ([]byte, Header, error) {
	set, err := ParseJWKS(jwks)
	if err != nil {
		return nil, Header{}, err
	}
	return Verify(token, set, expectAlgs...)
}

// AtHash is the OIDC at_hash (Core §3.1.3.6) of accessToken for an ID token
// signed with alg: base64url (no padding) of the left half of the hash of
// the token's ASCII bytes. The hash is SHA-256 for RS256, PS256 and ES256.
// For EdDSA it is SHA-512: Core ties the hash to the alg's, Ed25519 hashes
// with SHA-512, and that is what OIDC libraries in use do (the OpenID
// errata discussion settled on it for Ed25519). An unsupported alg gives "".
func AtHash(accessToken string, alg Alg) string {
	var h hash.Hash
	switch alg {
	case RS256, PS256, ES256:
		h = sha256.New()
	case EdDSA:
		h = sha512.New()
	default:
		return ""
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
