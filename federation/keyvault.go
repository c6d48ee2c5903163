package federation

// The operator's keys in the state store: the gateway's signing ring and
// its subscriber_id sealing keys (RSA and X25519), which every gateway
// node of the operator must hold alike, since they serve one issuer and
// open the subscriber_ids discovery sealed to the operator's record. They
// are kept as one record, encrypted (AES-256-GCM) with a key-encryption
// key each node reads from a file (--kek-file) and which never enters the
// store: a copy of the database alone opens nothing. A node that rotates
// writes the record's next version; the others see it within
// keyReloadInterval and load it in place, without a restart.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
)

const (
	// keysKind and keysKey name the record.
	keysKind state.Kind = "operator.keys"
	keysKey             = "keys"
	// kekFile is the key-encryption key a node with an embedded store
	// makes in its data directory when --kek-file is not given: the store
	// is in the same directory, so it protects as much as the key files
	// before it did. A shared store needs --kek-file, the same on every
	// node of the operator.
	kekFile = "kek"
	// keyReloadInterval is how often a node looks for keys another node
	// rotated. A rotated-out key stays valid far longer (its tokens' life,
	// a subscriber_id's), so a node a few seconds late misses nothing.
	keyReloadInterval = 10 * time.Second
	// keysForever: the keys record does not expire.
	keysForever = 100 * 365 * 24 * time.Hour
)

// errKeysMoved: another node wrote the keys since this one read them.
var errKeysMoved = errors.New("the operator's keys were changed by another node")

// keysRecord is the plaintext of the keys record.
type keysRecord struct {
	Version  uint64          `json:"version"`
	Signing  json.RawMessage `json:"signing"` // jose ring, private keys
	RSA      []byte          `json:"rsa"`     // PKCS#1, current
	RSAPrev  []byte          `json:"rsa_previous,omitempty"`
	X25519   gatewaySealKeys `json:"x25519"`
	Operator string          `json:"operator"`
}

// keyVault keeps the operator's keys in the state store.
type keyVault struct {
	store    state.Store
	aead     cipher.AEAD
	operator string
	mu       sync.Mutex // serialises this node's saves and reloads
	version  uint64
}

// readKEK reads the 32-byte key-encryption key from path, or, when path is
// empty, from (making it on first use) the data directory's kekFile.
func readKEK(path, dataDir string) ([]byte, error) {
	if path == "" {
		return loadOrCreateKey(dataDir, kekFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--kek-file: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("--kek-file %s holds %d bytes; it must hold 32 random bytes (e.g. head -c 32 /dev/urandom)", path, len(b))
	}
	return b, nil
}

func newKeyVault(store state.Store, kek []byte, operator string) (*keyVault, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keyVault{store: store, aead: aead, operator: operator}, nil
}

// aad binds the ciphertext to its operator: a record copied to another
// operator's row does not open there.
func (v *keyVault) aad() []byte { return []byte("mcfed-operator-keys\x00" + v.operator) }

func (v *keyVault) seal(r keysRecord) ([]byte, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return v.aead.Seal(nonce, nonce, plain, v.aad()), nil
}

func (v *keyVault) open(b []byte) (keysRecord, error) {
	var r keysRecord
	n := v.aead.NonceSize()
	if len(b) < n {
		return r, errors.New("the operator's keys record is truncated")
	}
	plain, err := v.aead.Open(nil, b[:n], b[n:], v.aad())
	if err != nil {
		return r, errors.New("the operator's keys do not open with this node's key-encryption key (--kek-file): " +
			"every node of an operator needs the same one")
	}
	if err := json.Unmarshal(plain, &r); err != nil {
		return r, fmt.Errorf("the operator's keys record: %w", err)
	}
	return r, nil
}

// record is the keys record of ring and sealing at version.
func record(operator string, version uint64, ring *jose.KeyRing, sealing *sealingKeys) (keysRecord, error) {
	signing, err := ring.MarshalPrivate()
	if err != nil {
		return keysRecord{}, err
	}
	sealing.mu.RLock()
	defer sealing.mu.RUnlock()
	r := keysRecord{Version: version, Signing: signing, RSA: x509.MarshalPKCS1PrivateKey(sealing.current), Operator: operator}
	if sealing.previous != nil {
		r.RSAPrev = x509.MarshalPKCS1PrivateKey(sealing.previous)
	}
	r.X25519.Current = sealing.x25519[0].Private.Bytes()
	if len(sealing.x25519) > 1 {
		r.X25519.Previous = sealing.x25519[1].Private.Bytes()
		r.X25519.PreviousNotAfter = sealing.x25519[1].NotAfter.Unix()
	}
	return r, nil
}

// install loads r into ring and sealing, in place.
func install(r keysRecord, ring *jose.KeyRing, sealing *sealingKeys) error {
	loaded, err := jose.ParseRing("the operator's keys record", r.Signing)
	if err != nil {
		return err
	}
	cur, err := x509.ParsePKCS1PrivateKey(r.RSA)
	if err != nil {
		return fmt.Errorf("the operator's keys record: sealing key: %w", err)
	}
	var prev *rsa.PrivateKey
	if r.RSAPrev != nil {
		if prev, err = x509.ParsePKCS1PrivateKey(r.RSAPrev); err != nil {
			return fmt.Errorf("the operator's keys record: previous sealing key: %w", err)
		}
	}
	x, err := ecdh.X25519().NewPrivateKey(r.X25519.Current)
	if err != nil {
		return fmt.Errorf("the operator's keys record: X25519 key: %w", err)
	}
	pairs := []discovery.SealKeyPair{discovery.NewSealKeyPair(x, time.Time{})}
	if r.X25519.Previous != nil {
		px, err := ecdh.X25519().NewPrivateKey(r.X25519.Previous)
		if err != nil {
			return fmt.Errorf("the operator's keys record: previous X25519 key: %w", err)
		}
		pairs = append(pairs, discovery.NewSealKeyPair(px, time.Unix(r.X25519.PreviousNotAfter, 0)))
	}
	ring.ReplaceWith(loaded)
	sealing.mu.Lock()
	sealing.current, sealing.previous, sealing.x25519 = cur, prev, pairs
	sealing.mu.Unlock()
	return nil
}

// openOperatorKeys returns the operator's keys from the store, storing
// them first when the store has none: those of the node's data directory
// from before the store, or new ones. Every signing algorithm gets a key.
func openOperatorKeys(ctx context.Context, cfg Config, store state.Store, nodes discovery.NodeSealKeys) (*jose.KeyRing, *sealingKeys, *keyVault, error) {
	kek, err := readKEK(cfg.KEKFile, cfg.DataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := newKeyVault(store, kek, cfg.OperatorID)
	if err != nil {
		return nil, nil, nil, err
	}
	ring := jose.NewKeyRing(maxTokenLifetime)
	sealing := &sealingKeys{sym: discovery.NewSymOpener(nodes, nil)}
	err = v.adopt(ctx, ring, sealing, func() error {
		if old, err := jose.LoadRing(filepath.Join(cfg.DataDir, signingKeyFile)); err == nil {
			ring.ReplaceWith(old)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("signing keys: %w", err)
		}
		return sealingKeysFromFiles(cfg.DataDir, sealing)
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the operator's keys: %w", err)
	}
	changed, err := ring.Ensure(time.Now(), algorithms...)
	if err == nil && changed {
		err = v.save(ctx, ring, sealing)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	return ring, sealing, v, nil
}

// adopt makes ring and sealing the operator's keys: those in the store
// when there are (another node of the operator made them, or this one
// before a restart), else those fresh fills them with, which it stores.
func (v *keyVault) adopt(ctx context.Context, ring *jose.KeyRing, sealing *sealingKeys, fresh func() error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for range 3 {
		rec, err := v.store.Get(ctx, keysKind, []byte(keysKey))
		if err == nil {
			r, err := v.open(rec.Value)
			if err != nil {
				return err
			}
			v.version = r.Version
			return install(r, ring, sealing)
		}
		if !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("reading the operator's keys: %w", err)
		}
		if err := fresh(); err != nil {
			return err
		}
		r, err := record(v.operator, 1, ring, sealing)
		if err != nil {
			return err
		}
		b, err := v.seal(r)
		if err != nil {
			return err
		}
		err = v.store.Create(ctx, keysKind, []byte(keysKey), b, time.Now().Add(keysForever))
		if err == nil {
			v.version = 1
			return nil
		}
		if !errors.Is(err, state.ErrExists) {
			return fmt.Errorf("storing the operator's keys: %w", err)
		}
		// Another node stored its keys first: adopt those.
	}
	return errors.New("the operator's keys: the store neither holds nor takes them")
}

// save writes ring's and sealing's keys as the next version after the one
// this node holds; errKeysMoved when another node wrote since.
func (v *keyVault) save(ctx context.Context, ring *jose.KeyRing, sealing *sealingKeys) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, err := record(v.operator, v.version+1, ring, sealing)
	if err != nil {
		return err
	}
	b, err := v.seal(r)
	if err != nil {
		return err
	}
	_, err = v.store.Update(ctx, keysKind, []byte(keysKey), func(old state.Record, found bool) (state.Record, error) {
		if found {
			cur, err := v.open(old.Value)
			if err != nil {
				return state.Record{}, err
			}
			if cur.Version != v.version {
				return state.Record{}, errKeysMoved
			}
		}
		return state.Record{Value: b, Expires: time.Now().Add(keysForever)}, nil
	})
	if err != nil {
		return err
	}
	v.version = r.Version
	return nil
}

// reload loads the stored keys when another node wrote a newer version,
// and reports whether it did.
func (v *keyVault) reload(ctx context.Context, ring *jose.KeyRing, sealing *sealingKeys) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	rec, err := v.store.Get(ctx, keysKind, []byte(keysKey))
	if err != nil {
		return false, err
	}
	r, err := v.open(rec.Value)
	if err != nil || r.Version == v.version {
		return false, err
	}
	if err := install(r, ring, sealing); err != nil {
		return false, err
	}
	v.version = r.Version
	return true, nil
}

// reloadKeysLoop loads keys other nodes rotated until ctx ends.
func (n *Node) reloadKeysLoop(ctx context.Context) {
	t := time.NewTicker(keyReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := n.vault.reload(ctx, n.keys, n.sealing)
		switch {
		case err != nil && ctx.Err() == nil:
			n.log.Error("reading the operator's keys failed", "err", err)
		case changed:
			n.log.Info("the operator's keys were rotated by another node; loaded")
		}
	}
}
