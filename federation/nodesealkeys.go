package federation

// The node's own X25519 seal key (discovery/symseal.go): discovery on this
// node seals subscriber_ids with it, and gateways find its public half on
// this node's registry.Node record. It rotates every --key-rotation and on
// POST /v1/node/seal-key/rotate; the key a rotation replaced stays
// published, and seals until the new one is, with a NotAfter: the longest
// a subscriber_id sealed with it lives. After that it leaves the record and
// the data directory. The private halves stay in the data directory.

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/registry"
)

const (
	// nodeSealKeysFile holds the node's X25519 keys (nodeSealKeyFile
	// below): the current one, when it was made, and the one the last
	// rotation replaced with its NotAfter.
	nodeSealKeysFile = "node-seal-keys.json"
	// legacyNodeSealKeyFile is the one key (32 raw bytes) a node kept
	// before its key rotated: read on the first start that has no
	// nodeSealKeysFile, then removed.
	legacyNodeSealKeyFile = "node-seal-x25519.key"
)

// retiredKeyLife is how long a replaced X25519 key (the node's or the
// gateway's) keeps opening: the longest a symmetric subscriber_id lives,
// plus the clock skew a gateway allows.
const retiredKeyLife = discovery.MaxSubscriberIDLifetime + 5*time.Minute

// nodeSealKeyFile is nodeSealKeysFile's form.
type nodeSealKeyFile struct {
	Current []byte `json:"current"`
	// Created is when the current key was made (Unix seconds): the
	// schedule rotates it a period later.
	Created  int64  `json:"created"`
	Previous []byte `json:"previous,omitempty"`
	// PreviousNotAfter is when the previous key stops opening (Unix
	// seconds).
	PreviousNotAfter int64 `json:"previous_not_after,omitempty"`
}

// nodeSealKeys is the node's seal keys, in memory as in its file. mu
// orders every change and its publication: the file is written first, so
// that no key is ever published whose private half a crash could lose;
// then discovery is told (it seals with the new key once published); then
// the record is written.
type nodeSealKeys struct {
	mu      sync.Mutex
	path    string
	file    nodeSealKeyFile
	pairs   []discovery.SealKeyPair // the current first
	created time.Time
	// svc is discovery on this node, once built: told of every change.
	svc *discovery.Service
}

// openNodeSealKeys reads the node's seal keys from dir, making the first
// (or taking the key of a data directory from before rotation) when there
// are none yet.
func openNodeSealKeys(dir string, now time.Time) (*nodeSealKeys, error) {
	k := &nodeSealKeys{path: filepath.Join(dir, nodeSealKeysFile)}
	b, err := os.ReadFile(k.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &k.file); err != nil {
			return nil, fmt.Errorf("node seal keys: %s: %w", k.path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("node seal keys: %w", err)
	default:
		if k.file, err = firstNodeSealKey(dir, now); err != nil {
			return nil, fmt.Errorf("node seal keys: %w", err)
		}
		if err := k.save(k.file); err != nil {
			return nil, err
		}
	}
	if err := k.load(k.file); err != nil {
		return nil, fmt.Errorf("node seal keys: %s: %w", k.path, err)
	}
	// The legacy file's key is in the new file now (or was, and has been
	// rotated out): its copy goes.
	if err := os.Remove(filepath.Join(dir, legacyNodeSealKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("node seal keys: %w", err)
	}
	return k, nil
}

// firstNodeSealKey is the key of a data directory from before rotation
// (made when that file was last written), or a new one.
func firstNodeSealKey(dir string, now time.Time) (nodeSealKeyFile, error) {
	path := filepath.Join(dir, legacyNodeSealKeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil && len(raw) == 32:
		created := now
		if fi, err := os.Stat(path); err == nil {
			created = fi.ModTime()
		}
		return nodeSealKeyFile{Current: raw, Created: created.Unix()}, nil
	case err == nil:
		return nodeSealKeyFile{}, fmt.Errorf("%s does not hold a 32-byte key", path)
	case !errors.Is(err, os.ErrNotExist):
		return nodeSealKeyFile{}, err
	}
	priv, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return nodeSealKeyFile{}, err
	}
	return nodeSealKeyFile{Current: priv.Bytes(), Created: now.Unix()}, nil
}

// load makes f the keys in memory.
func (k *nodeSealKeys) load(f nodeSealKeyFile) error {
	cur, err := ecdh.X25519().NewPrivateKey(f.Current)
	if err != nil {
		return fmt.Errorf("current: %w", err)
	}
	pairs := []discovery.SealKeyPair{discovery.NewSealKeyPair(cur, time.Time{})}
	if f.Previous != nil {
		prev, err := ecdh.X25519().NewPrivateKey(f.Previous)
		if err != nil {
			return fmt.Errorf("previous: %w", err)
		}
		pairs = append(pairs, discovery.NewSealKeyPair(prev, time.Unix(f.PreviousNotAfter, 0)))
	}
	k.file, k.pairs, k.created = f, pairs, time.Unix(f.Created, 0)
	if k.svc != nil {
		k.svc.SetSealKeys(pairs)
	}
	return nil
}

// save writes f to the node's file, whole or not at all, 0600.
func (k *nodeSealKeys) save(f nodeSealKeyFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(k.path, b); err != nil {
		return fmt.Errorf("node seal keys: %w", err)
	}
	return nil
}

// current is the key discovery seals with once it is published.
func (k *nodeSealKeys) current() discovery.SealKeyPair {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pairs[0]
}

// attach tells discovery of the keys, and of every change after.
func (k *nodeSealKeys) attach(svc *discovery.Service) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.svc = svc
	svc.SetSealKeys(k.pairs)
}

// rotate makes a new current key; the replaced one seals until the new
// one is published and opens until now + retiredKeyLife, past the expiry
// of everything it seals. One previous key is kept, as for the gateway's:
// a rotation within that time retires the older key early. The caller
// holds k.mu.
func (k *nodeSealKeys) rotate(now time.Time) error {
	next, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return err
	}
	f := nodeSealKeyFile{Current: next.Bytes(), Created: now.Unix(),
		Previous: k.file.Current, PreviousNotAfter: now.Add(retiredKeyLife).Unix()}
	if err := k.save(f); err != nil {
		return err
	}
	return k.load(f)
}

// prune drops the previous key once past its NotAfter, reporting whether
// it did. The caller holds k.mu.
func (k *nodeSealKeys) prune(now time.Time) (bool, error) {
	if k.file.Previous == nil || now.Unix() <= k.file.PreviousNotAfter {
		return false, nil
	}
	f := nodeSealKeyFile{Current: k.file.Current, Created: k.file.Created}
	if err := k.save(f); err != nil {
		return false, err
	}
	return true, k.load(f)
}

// published is the keys for the node's record, the current one first.
// The caller holds k.mu.
func (k *nodeSealKeys) published() []registry.SealKey {
	out := make([]registry.SealKey, len(k.pairs))
	for i, p := range k.pairs {
		out[i] = p.Published()
	}
	return out
}

// putNodeSealKeys drops a retired key past its NotAfter and writes the
// node's record with the keys, unless it holds them already. The caller
// holds n.nodeSeal.mu.
func (n *Node) putNodeSealKeys(ctx context.Context, now time.Time) error {
	k := n.nodeSeal
	if _, err := k.prune(now); err != nil {
		return err
	}
	self := n.raft.Registry().Node(n.cfg.NodeID)
	if self == nil {
		return errors.New("this node's record is not replicated here yet")
	}
	want := k.published()
	if slices.Equal(self.SealKeys, want) {
		return nil
	}
	rec := *self
	rec.SealKeys = want
	_, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutNode, rec))
	return err
}

// RotateNodeSealKey replaces the node's seal key now and publishes the
// keys (POST /v1/node/seal-key/rotate). As for the operator's sealing
// key, a rotation asked before the current key is published only
// publishes it: rotating again first would retire a key that never
// sealed.
func (n *Node) RotateNodeSealKey(ctx context.Context) ([]registry.SealKey, error) {
	if n.nodeSeal == nil {
		return nil, errNoSealKey
	}
	return n.rotateNodeSealKey(ctx, time.Now())
}

// errNoSealKey: a node without a public listener answers no discovery.
var errNoSealKey = errors.New("this node answers no discovery (no public listener): it has no seal key")

func (n *Node) rotateNodeSealKey(ctx context.Context, now time.Time) ([]registry.SealKey, error) {
	k := n.nodeSeal
	k.mu.Lock()
	defer k.mu.Unlock()
	if self := n.raft.Registry().Node(n.cfg.NodeID); self != nil && len(self.SealKeys) > 0 && self.SealKeys[0].ID == k.pairs[0].ID() {
		if err := k.rotate(now); err != nil {
			return nil, err
		}
		n.log.Info("node seal key rotated", "kid", k.pairs[0].ID())
	}
	if err := n.putNodeSealKeys(ctx, now); err != nil {
		return nil, err
	}
	return k.published(), nil
}

// nodeSealKeysDue rotates the node's key once it is period old, and drops
// the retired one past its NotAfter. The schedule never retires a key
// early: it rotates only once the previous key is gone.
func (n *Node) nodeSealKeysDue(ctx context.Context, now time.Time, period time.Duration) error {
	k := n.nodeSeal
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.prune(now); err != nil {
		return err
	}
	if period > 0 && len(k.pairs) == 1 && !now.Before(k.created.Add(period)) {
		if err := k.rotate(now); err != nil {
			return err
		}
		n.log.Info("node seal key rotated", "kid", k.pairs[0].ID())
	}
	return n.putNodeSealKeys(ctx, now)
}

// nodeSealKeyLoop publishes the node's seal keys on its registry record
// (once the record has replicated here: until then discovery seals in
// RSA), then keeps them due (nodeSealKeysDue) until ctx ends, checking at
// start and hourly (or every period, if shorter). A period <= 0 only drops
// retired keys, and publishes what a failed write left out.
func (n *Node) nodeSealKeyLoop(ctx context.Context, period time.Duration) {
	n.untilDone(ctx, func(ctx context.Context) error { return n.nodeSealKeysDue(ctx, time.Now(), period) })
	every := keyCheckInterval
	if period > 0 {
		every = min(every, period)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.nodeSealKeysDue(ctx, time.Now(), period); err != nil && ctx.Err() == nil {
			n.log.Error("node seal key rotation", "err", err)
		}
	}
}

// writeFileAtomic writes data to path, 0600, through a file beside it
// renamed over it once synced: a crash leaves the old file or the new one,
// never a part of either.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return nil
}
