// Package jose is mcfed's only door to JOSE (JWS, JWK, JWKS). Every use of
// github.com/lestrrat-go/jwx/v2 in the tree lives here, so a later move to jwx
// v3 touches this package alone; no jwx type appears in its API.
//
// It provides signing keys with RFC 7638 thumbprint key IDs (key.go), a
// rotating KeyRing persisted node-locally (ring.go), compact JWS signing and
// strict verification of ID tokens and request objects, JWKS parsing and the
// OIDC at_hash helper (jws.go).
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Alg is a JWS signature algorithm this package supports.
type Alg string

// Supported algorithms. RS256 is the Mobile Connect default (spec §2.4);
// PS256 and ES256 are offered to SPs that register them; EdDSA is Ed25519.
const (
	RS256 Alg = "RS256"
	PS256 Alg = "PS256"
	ES256 Alg = "ES256"
	EdDSA Alg = "EdDSA"
)

// Algs lists the supported algorithms, default first.
var Algs = []Alg{RS256, PS256, ES256, EdDSA}

// rsaBits is the modulus size of generated RSA keys; ParseJWKS refuses
// smaller RSA keys.
const rsaBits = 2048

// Errors returned by this package (wrapped; test with errors.Is).
var (
	ErrUnsupportedAlg = errors.New("jose: unsupported algorithm")
	ErrAlgNotAllowed  = errors.New("jose: algorithm not allowed")
	ErrUnknownKid     = errors.New("jose: unknown key id")
	ErrBadSignature   = errors.New("jose: signature verification failed")
	ErrMalformed      = errors.New("jose: malformed token")
	ErrPrivateInSet   = errors.New("jose: key set contains private key material")
	ErrBadKey         = errors.New("jose: invalid key")
)

// Supported reports whether a is one of Algs.
func (a Alg) Supported() bool {
	switch a {
	case RS256, PS256, ES256, EdDSA:
		return true
	}
	return false
}

func (a Alg) jwa() jwa.SignatureAlgorithm { return jwa.SignatureAlgorithm(a) }

// Key is one signing key: its private half, algorithm and key ID. The key ID
// is the RFC 7638 SHA-256 thumbprint of the public key, base64url without
// padding, so it is stable across restarts and unique per key.
//
// A Key never exposes its private half except through MarshalPrivate:
// json.Marshal(key) and fmt print the public JWK / the kid only.
type Key struct {
	alg       Alg
	kid       string
	priv      crypto.Signer // *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey
	pubJWK    jwk.Key       // public JWK with kty, use, alg, kid (read-only after construction)
	pubJSON   []byte        // compact JSON of pubJWK
	verifyKey crypto.PublicKey
	header    []byte // base64url of the protected header every token of this key has
	sigLen    int    // bytes in a signature
}

// GenerateKey makes a new key for alg: RSA-2048 for RS256 and PS256, P-256
// for ES256, Ed25519 for EdDSA.
func GenerateKey(alg Alg) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256, PS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("jose: generate %s key: %w", alg, err)
	}
	return newKey(alg, priv)
}

// newKey checks that priv suits alg and builds the public JWK and kid.
func newKey(alg Alg, priv crypto.Signer) (*Key, error) {
	if err := checkKeyType(alg, priv.Public()); err != nil {
		return nil, err
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: thumbprint: %v", ErrBadKey, err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for k, v := range map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: alg.jwa(),
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := pub.Set(k, v); err != nil {
			return nil, fmt.Errorf("jose: set %s: %w", k, err)
		}
	}
	js, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("jose: marshal public jwk: %w", err)
	}
	hdr, err := json.Marshal(struct {
		Alg Alg    `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("jose: marshal header: %w", err)
	}
	sigLen := 64 // ES256 (R||S), Ed25519
	if r, ok := priv.(*rsa.PrivateKey); ok {
		sigLen = r.Size()
	}
	return &Key{alg: alg, kid: kid, priv: priv, pubJWK: pub, pubJSON: js, verifyKey: priv.Public(),
		header: []byte(base64.RawURLEncoding.EncodeToString(hdr)), sigLen: sigLen}, nil
}

// checkKeyType reports whether pub is a key alg can use: RSA ≥ 2048 bits for
// RS256/PS256, P-256 for ES256, Ed25519 for EdDSA.
func checkKeyType(alg Alg, pub crypto.PublicKey) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		ok = (alg == RS256 || alg == PS256) && k.N.BitLen() >= rsaBits
	case *ecdsa.PublicKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		ok = alg == EdDSA
	}
	if !ok {
		return fmt.Errorf("%w: %T does not fit %s", ErrBadKey, pub, alg)
	}
	return nil
}

// Alg is the algorithm this key signs with.
func (k *Key) Alg() Alg { return k.alg }

// KID is the key ID (RFC 7638 SHA-256 thumbprint, base64url).
func (k *Key) KID() string { return k.kid }

// Public is the public JWK as compact JSON, with kty, use ("sig"), alg and
// kid plus the key's public parameters. The caller must not modify it.
func (k *Key) Public() json.RawMessage { return k.pubJSON }

// PublicKey is the public half as a standard library key (*rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey), e.g. for a relying party in tests.
func (k *Key) PublicKey() crypto.PublicKey { return k.verifyKey }

// MarshalJSON emits the public JWK only, so a Key that ends up in a JSON
// document or log never leaks its private half.
func (k *Key) MarshalJSON() ([]byte, error) { return k.pubJSON, nil }

// String names the key without key material.
func (k *Key) String() string { return "jose.Key{" + string(k.alg) + " " + k.kid + "}" }

// GoString is String, so %#v does not print the private key either.
func (k *Key) GoString() string { return k.String() }

// MarshalPrivate serialises the key, private half included, as a JWK JSON
// object (with kid, alg and use) for node-local storage. Keep the result
// out of logs, the registry and anything published.
func (k *Key) MarshalPrivate() ([]byte, error) {
	j, err := jwk.FromRaw(k.priv)
	if err != nil {
		return nil, fmt.Errorf("jose: private jwk: %w", err)
	}
	for name, v := range map[string]any{
		jwk.KeyIDKey:     k.kid,
		jwk.AlgorithmKey: k.alg.jwa(),
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := j.Set(name, v); err != nil {
			return nil, fmt.Errorf("jose: set %s: %w", name, err)
		}
	}
	return json.Marshal(j)
}

// ParsePrivate reads a key written by MarshalPrivate. The JWK must be
// private, carry a supported alg that fits its type, and its kid, if
// present, must equal the thumbprint of its public half.
func ParsePrivate(b []byte) (*Key, error) {
	j, err := jwk.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if priv, err := jwk.IsPrivateKey(j); err != nil || !priv {
		return nil, fmt.Errorf("%w: not a private key", ErrBadKey)
	}
	alg := Alg(j.Algorithm().String())
	if !alg.Supported() {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	var raw any
	if err := j.Raw(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	var signer crypto.Signer
	switch r := raw.(type) {
	case *rsa.PrivateKey:
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		// jwx fills in the CRT values but does not precompute: without
		// this, every signature would rebuild and re-check the key, twice
		// the cost of the signature itself.
		r.Precompute()
		signer = r
	case *ecdsa.PrivateKey:
		signer = r
	case ed25519.PrivateKey:
		signer = r
	default:
		return nil, fmt.Errorf("%w: %T", ErrBadKey, raw)
	}
	k, err := newKey(alg, signer)
	if err != nil {
		return nil, err
	}
	if kid := j.KeyID(); kid != "" && kid != k.kid {
		return nil, fmt.Errorf("%w: kid %q is not the key's thumbprint %q", ErrBadKey, kid, k.kid)
	}
	return k, nil
}
