package mss

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// Challenge is what the SIM applet signs: the signature profile (how the
// person consents), the SP's name and the binding message the phone shows,
// and the AP's transaction nonce, which makes every signature good for
// one transaction only. Its text (Encode) is the DataToBeSigned: the SIM
// parses it to show the prompt, so what it signs is what it showed.
type Challenge struct {
	Profile string
	SPName  string
	Message string
	Nonce   string
}

const challengeHeader = "mcfed-sim-auth/1"

// Encode is the challenge as the DataToBeSigned; line breaks in the SP's
// words become spaces, so no field can pose as another.
func (c Challenge) Encode() string {
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return challengeHeader + "\nprofile=" + flat(c.Profile) + "\nsp=" + flat(c.SPName) +
		"\nmessage=" + flat(c.Message) + "\nnonce=" + flat(c.Nonce)
}

// ErrBadChallenge: DataToBeSigned that is no SIM applet challenge.
var ErrBadChallenge = errors.New("mss: not a SIM applet challenge")

// ParseChallenge reads the DataToBeSigned Encode made.
func ParseChallenge(s string) (Challenge, error) {
	lines := strings.Split(s, "\n")
	if len(lines) != 5 || lines[0] != challengeHeader {
		return Challenge{}, ErrBadChallenge
	}
	var c Challenge
	for i, f := range []struct {
		key string
		dst *string
	}{{"profile=", &c.Profile}, {"sp=", &c.SPName}, {"message=", &c.Message}, {"nonce=", &c.Nonce}} {
		v, ok := strings.CutPrefix(lines[i+1], f.key)
		if !ok {
			return Challenge{}, ErrBadChallenge
		}
		*f.dst = v
	}
	if c.Profile != ProfileClickOK && c.Profile != ProfilePIN || c.Nonce == "" {
		return Challenge{}, ErrBadChallenge
	}
	return c, nil
}

// ErrBadSignature: the signature does not verify with the SIM's key.
var ErrBadSignature = errors.New("mss: the signature does not verify with the SIM's key")

// ParsePublicKey reads a SIM's public key (PKIX, DER): ECDSA P-256 or
// Ed25519, the two a SIM applet key may be.
func ParsePublicKey(der []byte) (crypto.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("mss: SIM public key: %w", err)
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("mss: SIM public key: an ECDSA key must be on P-256")
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("mss: SIM public key: %T; want ECDSA P-256 or Ed25519", k)
	}
	return k, nil
}

// Verify checks sig over data with the SIM's public key (PKIX, DER):
// ECDSA P-256 over SHA-256 (ASN.1 signature) or Ed25519.
func Verify(publicKey []byte, data, sig []byte) error {
	k, err := ParsePublicKey(publicKey)
	if err != nil {
		return err
	}
	ok := false
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		h := sha256.Sum256(data)
		ok = ecdsa.VerifyASN1(k, h[:], sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, data, sig)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// Sign is what a SIM applet does with its key: ECDSA P-256 over SHA-256,
// or Ed25519 (the simulated SIM, tests).
func Sign(key crypto.Signer, data []byte) ([]byte, error) {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, data, crypto.Hash(0))
	case *ecdsa.PublicKey:
		h := sha256.Sum256(data)
		return key.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	return nil, fmt.Errorf("mss: a SIM key is ECDSA P-256 or Ed25519, not %T", key.Public())
}
