package federation

// X25519 keys of the symmetric subscriber_id (issue 15,
// discovery/symseal.go): on an operator's node, the gateway's, which opens
// and which the operator's record publishes beside the RSA sealing key
// (the node's own, with which its discovery seals, are in
// nodesealkeys.go). Private halves never enter the registry.

import (
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/registry"
)

// gatewaySealKeysFile holds the gateway's X25519 keys: the current one and
// the one the last rotation replaced, with when it stops opening.
const gatewaySealKeysFile = "gateway-seal-keys.json"

// subscriberIDForms are the forms an mcfed gateway opens: the symmetric one
// first (discovery prefers it), RSA for discovery nodes without the new
// key and for subscriber_ids sealed before it.
var subscriberIDForms = []string{registry.FormX25519AESGCM, registry.FormRSAPKCS1}

// NodeSealKey finds a node's published seal key (discovery.NodeSealKeys).
func (l liveRegistry) NodeSealKey(kid string) (registry.SealKey, bool) {
	return l.node.Registry().NodeSealKey(kid)
}

// gatewaySealKeys is the file form of the gateway's X25519 keys, and
// their form in the keys record.
type gatewaySealKeys struct {
	Current  []byte `json:"current"`
	Previous []byte `json:"previous,omitempty"`
	// PreviousNotAfter is when the previous key stops opening (Unix
	// seconds): the rotation's time plus the longest a subscriber_id
	// lives.
	PreviousNotAfter int64 `json:"previous_not_after,omitempty"`
}

// loadGatewaySealKeys reads the gateway's X25519 keys from dir (a data
// directory from before the state store) into k, making the current one
// when there is no file.
func (k *sealingKeys) loadGatewaySealKeys(dir string) error {
	path := filepath.Join(dir, gatewaySealKeysFile)
	var f gatewaySealKeys
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		priv, err := ecdh.X25519().GenerateKey(nil)
		if err != nil {
			return err
		}
		f.Current = priv.Bytes()
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	cur, err := ecdh.X25519().NewPrivateKey(f.Current)
	if err != nil {
		return fmt.Errorf("%s: current: %w", path, err)
	}
	k.x25519 = []discovery.SealKeyPair{discovery.NewSealKeyPair(cur, time.Time{})}
	if f.Previous != nil {
		prev, err := ecdh.X25519().NewPrivateKey(f.Previous)
		if err != nil {
			return fmt.Errorf("%s: previous: %w", path, err)
		}
		k.x25519 = append(k.x25519, discovery.NewSealKeyPair(prev, time.Unix(f.PreviousNotAfter, 0)))
	}
	return nil
}

// rotateX25519 makes a new current gateway key; the replaced one opens
// until now + the longest a subscriber_id lives (plus the clock skew a
// gateway allows), which covers every subscriber_id sealed to it. Like the
// RSA key, one previous key is kept: a second rotation within that time
// retires the first key early. The caller holds k.mu.
func (k *sealingKeys) rotateX25519(now time.Time) error {
	next, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return err
	}
	cur := k.x25519[0].Private
	notAfter := now.Add(retiredKeyLife)
	f := gatewaySealKeys{Current: next.Bytes(), Previous: cur.Bytes(), PreviousNotAfter: notAfter.Unix()}
	k.x25519 = []discovery.SealKeyPair{discovery.NewSealKeyPair(next, time.Time{}), discovery.NewSealKeyPair(cur, time.Unix(f.PreviousNotAfter, 0))}
	return nil
}

// publishedSealKeys are the gateway's X25519 public keys for the operator's
// record at now: the current one first, a retired one while it still
// opens.
func (k *sealingKeys) publishedSealKeys(now time.Time) []registry.SealKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []registry.SealKey
	for _, p := range k.x25519 {
		if p.NotAfter.IsZero() || now.Before(p.NotAfter) {
			out = append(out, p.Published())
		}
	}
	return out
}

// currentSealKeyPublished reports whether o publishes the gateway's current
// X25519 key first (or no X25519 key: a record from before them), the
// condition to rotate again, as for the RSA key.
func (k *sealingKeys) currentSealKeyPublished(o *registry.Operator) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(o.SealKeys) == 0 || o.SealKeys[0].ID == k.x25519[0].ID()
}
