// Package fidotest is a software WebAuthn authenticator for tests (and the
// dev sandbox): it does the real cryptography, as a platform authenticator
// does. Create makes a P-256 key pair and answers a real attestation
// object ("none", or "packed" self attestation: the new key signs it),
// CBOR-encoded; Get answers a real assertion, an ECDSA signature over the
// authenticator data and the hash of the client data, with a sign counter
// that advances at each use. What a browser would add (the origin in the
// client data) is the caller's: Options says it, and can say what a
// browser never would (another RP ID, another credential), so that tests
// show the relying party refuses it.
package fidotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Errors as a browser's: no credential of the request's (NotAllowedError),
// one excluded is held (InvalidStateError).
var (
	ErrNoCredential = errors.New("fidotest: no credential for this request")
	ErrExcluded     = errors.New("fidotest: a credential of the exclude list is held already")
)

// AAGUID is the authenticator model the software authenticator claims.
var AAGUID = [16]byte{0x6d, 0x63, 0x66, 0x65, 0x64, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x61, 0x75, 0x74, 0x68, 0x6e}

// Authenticator holds credentials, each a P-256 key with its RP ID, user
// handle and counter. It is safe for concurrent use.
type Authenticator struct {
	mu    sync.Mutex
	creds []*credential
}

type credential struct {
	id      []byte
	key     *ecdsa.PrivateKey
	rpID    string
	user    []byte
	counter uint32
}

// New is an authenticator with no credential.
func New() *Authenticator { return &Authenticator{} }

// Clone is another authenticator with copies of the same keys and
// counters: what a cloned authenticator would be.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &Authenticator{}
	for _, c := range a.creds {
		cc := *c
		b.creds = append(b.creds, &cc)
	}
	return b
}

// Options are what the browser would supply, and what tests bend.
type Options struct {
	// Origin goes into the client data (the page's origin). Required.
	Origin string
	// RPID, when set, replaces the request's RP ID: the authenticator data
	// is then for another relying party.
	RPID string
	// Format is the attestation format of Create: "none" (default) or
	// "packed" (self attestation).
	Format string
	// Credential, when set, is the credential Get uses, whatever the
	// request allows.
	Credential []byte
	// NoUserVerification leaves the UV flag unset (only user presence).
	NoUserVerification bool
}

type descriptor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// CredentialIDs are the IDs of the credentials held, base64url.
func (a *Authenticator) CredentialIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, c := range a.creds {
		out = append(out, b64(c.id))
	}
	return out
}

// Create answers navigator.credentials.create: options is
// {"publicKey": PublicKeyCredentialCreationOptions} as the relying party
// sent it (base64url binary members); the answer is the
// PublicKeyCredential as JSON, as a browser's toJSON gives it.
func (a *Authenticator) Create(options []byte, o Options) ([]byte, error) {
	var req struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Exclude []descriptor `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &req); err != nil {
		return nil, fmt.Errorf("fidotest: creation options: %w", err)
	}
	pk := req.PublicKey
	rpID := pk.RP.ID
	if o.RPID != "" {
		rpID = o.RPID
	}
	user, err := unb64(pk.User.ID)
	if err != nil {
		return nil, fmt.Errorf("fidotest: user id: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range pk.Exclude {
		if a.findLocked(d.ID, rpID) != nil {
			return nil, ErrExcluded
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &credential{id: make([]byte, 32), key: key, rpID: rpID, user: user}
	rand.Read(c.id)

	clientData, err := clientDataJSON("webauthn.create", pk.Challenge, o.Origin)
	if err != nil {
		return nil, err
	}
	coseKey, err := coseP256(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	auth := authData(rpID, flagsOf(o)|flagAT, c.counter)
	auth = append(auth, AAGUID[:]...)
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(c.id)))
	auth = append(auth, c.id...)
	auth = append(auth, coseKey...)

	stmt := map[string]any{}
	format := o.Format
	switch format {
	case "", "none":
		format = "none"
	case "packed":
		sig, err := sign(key, auth, clientData)
		if err != nil {
			return nil, err
		}
		stmt = map[string]any{"alg": -7, "sig": sig}
	default:
		return nil, fmt.Errorf("fidotest: attestation format %q: want none or packed", o.Format)
	}
	att, err := cbor.Marshal(map[string]any{"fmt": format, "attStmt": stmt, "authData": auth})
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, c)
	return json.Marshal(map[string]any{
		"id": b64(c.id), "rawId": b64(c.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(clientData), "attestationObject": b64(att),
			"transports": []string{"internal"}},
	})
}

// Get answers navigator.credentials.get: options is
// {"publicKey": PublicKeyCredentialRequestOptions}. It signs with the
// first held credential the request allows (or Options.Credential), and
// advances its counter.
func (a *Authenticator) Get(options []byte, o Options) ([]byte, error) {
	var req struct {
		PublicKey struct {
			Challenge string       `json:"challenge"`
			RPID      string       `json:"rpId"`
			Allow     []descriptor `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &req); err != nil {
		return nil, fmt.Errorf("fidotest: request options: %w", err)
	}
	pk := req.PublicKey
	a.mu.Lock()
	defer a.mu.Unlock()
	var c *credential
	if o.Credential != nil {
		c = a.findLocked(b64(o.Credential), "")
	} else {
		for _, d := range pk.Allow {
			if c = a.findLocked(d.ID, pk.RPID); c != nil {
				break
			}
		}
	}
	if c == nil {
		return nil, ErrNoCredential
	}
	rpID := c.rpID
	if o.RPID != "" {
		rpID = o.RPID
	}
	c.counter++
	clientData, err := clientDataJSON("webauthn.get", pk.Challenge, o.Origin)
	if err != nil {
		return nil, err
	}
	auth := authData(rpID, flagsOf(o), c.counter)
	sig, err := sign(c.key, auth, clientData)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(c.id), "rawId": b64(c.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(clientData), "authenticatorData": b64(auth),
			"signature": b64(sig), "userHandle": b64(c.user)},
	})
}

// findLocked is the held credential with id (base64url) for rpID ("" for
// any).
func (a *Authenticator) findLocked(id, rpID string) *credential {
	raw, err := unb64(id)
	if err != nil {
		return nil
	}
	for _, c := range a.creds {
		if bytes.Equal(c.id, raw) && (rpID == "" || c.rpID == rpID) {
			return c
		}
	}
	return nil
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func flagsOf(o Options) byte {
	if o.NoUserVerification {
		return flagUP
	}
	return flagUP | flagUV
}

// authData is the authenticator data's fixed part: the RP ID's hash, the
// flags, the counter.
func authData(rpID string, flags byte, counter uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	b := append(h[:], flags)
	return binary.BigEndian.AppendUint32(b, counter)
}

func clientDataJSON(typ, challenge, origin string) ([]byte, error) {
	if origin == "" {
		return nil, errors.New("fidotest: Options.Origin is required")
	}
	return json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
}

// sign is the ECDSA (ASN.1) signature over authData || SHA-256(clientData).
func sign(key *ecdsa.PrivateKey, auth, clientData []byte) ([]byte, error) {
	ch := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), auth...), ch[:]...))
	return ecdsa.SignASN1(rand.Reader, key, digest[:])
}

// coseP256 is the public key as a COSE_Key (EC2, P-256, ES256).
func coseP256(pub *ecdsa.PublicKey) ([]byte, error) {
	pt, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pt[1:33], -3: pt[33:65]})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
