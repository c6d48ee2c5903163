package registry

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
)

// Symmetric subscriber_id sealing between mcfed nodes (issue 15): each node
// that answers discovery publishes an X25519 public key on its Node record,
// each operator whose gateway is an mcfed node publishes one (or, across a
// rotation, two) on its Operator record, and the pair agree on an AES-GCM
// key once instead of an RSA operation per login (discovery/symseal.go).
// Private halves never enter the registry.

// The subscriber_id forms an operator's gateway opens
// (Operator.SubscriberIDForms).
const (
	// FormX25519AESGCM is mcfed's symmetric form: a key agreed from the
	// discovery node's and the operator's X25519 keys, AES-256-GCM per seal.
	FormX25519AESGCM = "x25519-aes-gcm"
	// FormRSAPKCS1 is the Mobile Connect recipe, RSA PKCS#1 v1.5 to
	// Operator.SealingKey: what a gateway that is not mcfed opens.
	FormRSAPKCS1 = "rsa-pkcs1"
)

// SealKey is a published X25519 public key.
type SealKey struct {
	// ID is SealKeyID(public key): sealed values name their keys by it.
	ID string `json:"kid"`
	// X25519 is the 32-byte public key, base64url without padding.
	X25519 string `json:"x25519"`
	// NotAfter (Unix seconds, 0: none) is when a retired operator key
	// stops opening: the current key has none; a rotation gives the
	// replaced key one, the longest a subscriber_id lives after the
	// rotation.
	NotAfter int64 `json:"not_after,omitempty"`
}

// SealKeyIDLen is the length of a key id's raw bytes, as sealed values
// carry it.
const SealKeyIDLen = 8

// SealKeyID names an X25519 public key: the first 8 bytes of its SHA-256,
// base64url. Derived, so no two keys share one by accident and a record
// cannot name a key by another's id.
func SealKeyID(pub []byte) string {
	h := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(h[:SealKeyIDLen])
}

// Public returns the key's X25519 public key.
func (k SealKey) Public() (*ecdh.PublicKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(k.X25519)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPublicKey(raw)
}

// maxSealKeys bounds the keys a record publishes: a current key and a few
// retired ones still opening.
const maxSealKeys = 4

// checkSealKeys accepts up to maxSealKeys well-formed X25519 keys with
// their derived ids, no id twice.
func checkSealKeys(what string, keys []SealKey) error {
	if len(keys) > maxSealKeys {
		return invalidf("%s: at most %d keys", what, maxSealKeys)
	}
	for i, k := range keys {
		raw, err := base64.RawURLEncoding.DecodeString(k.X25519)
		if err != nil || len(raw) != 32 {
			return invalidf("%s: x25519 must be a 32-byte key, base64url without padding", what)
		}
		if _, err := ecdh.X25519().NewPublicKey(raw); err != nil {
			return invalidf("%s: %v", what, err)
		}
		if k.ID != SealKeyID(raw) {
			return invalidf("%s: kid %q is not the key's id (SHA-256 of the key, first 8 bytes, base64url)", what, k.ID)
		}
		if k.NotAfter < 0 {
			return invalidf("%s: not_after must be Unix seconds", what)
		}
		for _, o := range keys[:i] {
			if o.ID == k.ID {
				return invalidf("%s: key %s appears twice", what, k.ID)
			}
		}
	}
	return nil
}

// checkSubscriberIDForms accepts the known forms, each once; the
// symmetric one needs a key to seal to.
func checkSubscriberIDForms(o *Operator) error {
	for i, f := range o.SubscriberIDForms {
		switch f {
		case FormX25519AESGCM:
			if len(o.SealKeys) == 0 {
				return invalidf("subscriber_id_forms: %s needs seal_keys", f)
			}
		case FormRSAPKCS1:
		default:
			return invalidf("subscriber_id_forms: %q is none of %s, %s", f, FormX25519AESGCM, FormRSAPKCS1)
		}
		for _, g := range o.SubscriberIDForms[:i] {
			if g == f {
				return invalidf("subscriber_id_forms: %s appears twice", f)
			}
		}
	}
	return nil
}

// Opens reports whether the operator's gateway opens form. A record that
// names no forms predates them: its gateway opens RSA only.
func (o *Operator) Opens(form string) bool {
	if len(o.SubscriberIDForms) == 0 {
		return form == FormRSAPKCS1
	}
	for _, f := range o.SubscriberIDForms {
		if f == form {
			return true
		}
	}
	return false
}

// NodeSealKey finds the discovery node's published seal key with id kid.
// A gateway asks on every login (a retired key stops opening at its
// NotAfter, a dropped one at once), so it reads a map of every node's keys,
// rebuilt (from tens of records) on the first lookup after a write to the
// nodes.
func (r *Registry) NodeSealKey(kid string) (SealKey, bool) {
	idx := r.nodeKeys.Load()
	// The generation is read before the records: a map built from them is
	// at least as new as the generation it is filed under.
	if gen := r.nodeWrites.Load(); idx == nil || idx.gen != gen {
		idx = &nodeKeyIndex{gen: gen, keys: map[string]SealKey{}}
		it, err := r.db.Txn(false).Get(tableNodes, "id")
		if err != nil {
			return SealKey{}, false
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			for _, k := range raw.(*Node).SealKeys {
				idx.keys[k.ID] = k
			}
		}
		r.nodeKeys.Store(idx)
	}
	k, ok := idx.keys[kid]
	return k, ok
}

// nodeKeyIndex is every node's published seal keys by id, as of a
// generation of the nodes' records.
type nodeKeyIndex struct {
	gen  uint64
	keys map[string]SealKey
}

// nodesChanged is called by every write to the nodes' records: once it
// commits, NodeSealKey reads them again.
func (tx *writeTxn) nodesChanged() {
	tx.onCommit(func() { tx.r.nodeWrites.Add(1) })
}
