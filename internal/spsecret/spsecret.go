// Package spsecret derives an SP's per-operator client secrets from its
// federation secret. It is the whole derivation and nothing else, so that
// both the node (registry, discovery, gateways) and package client, which
// SPs link and which imports no server code, compute the same values from
// one place.
//
// The SP's secret S is a key: a seed derived from it makes an Ed25519 key
// pair whose public half is all the registry stores (PublicKey). The
// secret the SP presents at operator X is S's signature over the SP's
// client id and X (OperatorSecret): anyone holding S can make it, every node
// can check it with the public key (Verify), and no one holding only the
// secrets of other operators can make it (Ed25519 is unforgeable). A
// derived secret is not S, so it does not open discovery either.
package spsecret

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// KeyPrefix starts every public key in its stored form.
const KeyPrefix = "ed25519:"

// Domain separation: the seed and the signed messages cannot be mistaken for
// anything else hashed or signed with the same secret.
const (
	seedLabel    = "mcfed sp secret v1"
	messageLabel = "mcfed client secret v1\x00"
)

// OperatorSecretLen is the length of every OperatorSecret: a 64-byte
// signature in unpadded base64url.
const OperatorSecretLen = 86

// privateKey is the key pair derived from the SP's secret.
func privateKey(secret string) ed25519.PrivateKey {
	h := sha256.New()
	h.Write([]byte(seedLabel))
	h.Write([]byte(secret))
	return ed25519.NewKeyFromSeed(h.Sum(nil))
}

// PublicKey returns the stored form of secret's public key,
// "ed25519:<base64url>".
func PublicKey(secret string) string {
	pk := privateKey(secret).Public().(ed25519.PublicKey)
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(pk)
}

// CheckSecret reports whether secret is the one whose PublicKey is key, in
// time that does not depend on how much of the key matches.
func CheckSecret(key, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(PublicKey(secret)), []byte(key)) == 1
}

// message is what an operator secret signs: the client id and the operator,
// NUL-separated (neither may hold a NUL: registry ids are printable).
func message(clientID, operator string) []byte {
	return []byte(messageLabel + clientID + "\x00" + operator)
}

// OperatorSecret is the client secret the SP whose secret is secret
// presents at operator's gateway: deterministic, 86 characters of
// base64url.
func OperatorSecret(secret, clientID, operator string) string {
	sig := ed25519.Sign(privateKey(secret), message(clientID, operator))
	return base64.RawURLEncoding.EncodeToString(sig)
}

// ParseKey decodes a public key in its stored form.
func ParseKey(key string) (ed25519.PublicKey, bool) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok || len(rest) != 43 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(b), true
}

// Verify reports whether presented is the OperatorSecret of the SP whose
// public key is key, for clientID at operator.
func Verify(key, clientID, operator, presented string) bool {
	pk, ok := ParseKey(key)
	if !ok || len(presented) != OperatorSecretLen {
		return false
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(presented)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pk, message(clientID, operator), sig)
}
