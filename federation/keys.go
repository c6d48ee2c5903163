package federation

// Key custody: every key and secret the node keeps in its data directory
// and never in the registry: the gateway's signing keys and their
// rotation, the subscriber_id sealing keys, and the operator-selection
// key (the node's own credential is in credentials.go). Only public
// halves, and verifiers, leave the node (the operator's record, the
// registry's credentials).

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/internal/jose"
)

// Node-local key files. Private keys live here, in the node's data
// directory, and never in the registry.
const (
	sealingKeyFile = "sealing-key.pem" // opens subscriber_id / ENCR_MSISDN
	signingKeyFile = "signing-keys.json"
)

// maxTokenLifetime bounds how long an ID token signed by a key stays
// verifiable, so a rotated-out key stays published that long.
const maxTokenLifetime = 24 * time.Hour

// loadOrCreateRing loads the signing keys, giving RS256 (the SDKs'
// default), PS256 and ES256 (which SPs may register) a key on first start.
func loadOrCreateRing(path string) (*jose.KeyRing, error) {
	ring, err := jose.LoadRing(path)
	if errors.Is(err, os.ErrNotExist) {
		ring, err = jose.NewKeyRing(maxTokenLifetime), nil
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	changed, err := ring.Ensure(time.Now(), jose.RS256, jose.PS256, jose.ES256)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if changed {
		if err := ring.SaveFile(path); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
	}
	return ring, nil
}

// sealingKey returns the node's subscriber_id key and the PEM of its public
// half (what the operator registers), making the key on first use.
func sealingKey(dir string) (*rsa.PrivateKey, string, error) {
	path := filepath.Join(dir, sealingKeyFile)
	var key *rsa.PrivateKey
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, "", fmt.Errorf("%s is not PEM", path)
		}
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, "", err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, "", err
		}
	} else {
		return nil, "", err
	}
	pub, err := publicPEM(key)
	return key, pub, err
}

// selectionKeyFile holds the key that MACs operator-selection sessions, so
// a session survives a restart of the node that issued it.
const selectionKeyFile = "selection-key"

// loadOrCreateKey returns 32 random bytes kept in file of the data
// directory, made on first use. Node-local keys live here, never in the
// registry.
func loadOrCreateKey(dir, file string) ([]byte, error) {
	path := filepath.Join(dir, file)
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	} else if err == nil {
		return nil, fmt.Errorf("%s does not hold a 32-byte key", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, key, 0o600)
}

// randomToken returns 256 random bits, base64url: secrets and tokens mcfed
// hands out.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// previousSealingKeyFile keeps the sealing key a rotation replaced: discovery
// answers sealed with it just before the rotation (or by a node whose
// replica had not yet seen the new key) still open. subscriber_ids live for
// the seconds to minutes between discovery and /authorize, so one previous
// key is enough; a second rotation retires it.
const previousSealingKeyFile = "sealing-key.previous.pem"

// sealingKeys opens ENCR_MSISDN login hints with the operator's current
// sealing key, or the previous one: RSA, or X25519 for the symmetric form
// (sealkeys.go).
type sealingKeys struct {
	dir      string
	mu       sync.RWMutex
	current  *rsa.PrivateKey
	previous *rsa.PrivateKey // nil before the first rotation
	// x25519 are the gateway's X25519 keys, the current one first; sym
	// opens with them, finding sealing nodes' keys in the registry.
	x25519 []discovery.SealKeyPair
	sym    *discovery.SymOpener
}

func loadSealingKeys(dir string, nodes discovery.NodeSealKeys) (*sealingKeys, error) {
	cur, _, err := sealingKey(dir)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	k := &sealingKeys{dir: dir, current: cur, sym: discovery.NewSymOpener(nodes, nil)}
	if k.previous, err = readRSAKey(filepath.Join(dir, previousSealingKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("previous sealing key: %w", err)
	}
	if err := k.loadGatewaySealKeys(); err != nil {
		return nil, fmt.Errorf("gateway seal keys: %w", err)
	}
	return k, nil
}

func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s is not PEM", path)
	}
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

func writeRSAKey(path string, key *rsa.PrivateKey) error {
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// OpenLoginHint opens an ENCR_MSISDN hint that came with the SP clientID's
// request: the symmetric form by its length (bound to that SP), else RSA.
func (k *sealingKeys) OpenLoginHint(subscriberID, clientID string) (uint64, error) {
	k.mu.RLock()
	cur, prev, x := k.current, k.previous, k.x25519
	k.mu.RUnlock()
	if discovery.IsSymmetric(subscriberID) {
		return k.sym.Open(x, subscriberID, clientID)
	}
	n, err := discovery.Open(cur, subscriberID)
	if err != nil && prev != nil {
		if m, perr := discovery.Open(prev, subscriberID); perr == nil {
			return m, nil
		}
	}
	return n, err
}

// publicPEMs returns the PEM public keys of the current and the previous
// sealing key ("" when there is no previous one).
func (k *sealingKeys) publicPEMs() (current, previous string, err error) {
	k.mu.RLock()
	cur, prev := k.current, k.previous
	k.mu.RUnlock()
	if current, err = publicPEM(cur); err != nil || prev == nil {
		return current, "", err
	}
	previous, err = publicPEM(prev)
	return current, previous, err
}

func publicPEM(key *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// rotate makes a new current key and keeps the current one as previous, on
// disk first (previous, then current, so a crash between the two leaves the
// old key in both files and nothing lost); the X25519 key rotates with it.
func (k *sealingKeys) rotate() error {
	next, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := writeRSAKey(filepath.Join(k.dir, previousSealingKeyFile), k.current); err != nil {
		return fmt.Errorf("rotate sealing key: %w", err)
	}
	if err := writeRSAKey(filepath.Join(k.dir, sealingKeyFile), next); err != nil {
		return fmt.Errorf("rotate sealing key: %w", err)
	}
	k.previous, k.current = k.current, next
	return k.rotateX25519(time.Now())
}

// keyCheckInterval is how often the node looks for a signing key due for
// rotation; rotation periods are days, so an hour's lateness is nothing.
const keyCheckInterval = time.Hour

// rotateKeysLoop rotates the gateway's signing keys every period until ctx
// ends; see rotateKeys.
func (n *Node) rotateKeysLoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(min(keyCheckInterval, period))
	defer t.Stop()
	for {
		if err := n.rotateKeys(ctx, time.Now(), period); err != nil {
			n.log.Error("signing key rotation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rotateKeys replaces signing keys older than period, drops keys whose
// tokens have all expired, saves the ring and publishes the new JWKS in the
// operator's record. The gateway's /jwks serves the ring itself, so the new
// key is there at once and a relying party that meets its kid refetches;
// the old key stays published until every token it signed has expired, so
// no verification fails across a rotation.
func (n *Node) rotateKeys(ctx context.Context, now time.Time, period time.Duration) error {
	rotated, err := n.keys.RotateDue(now, period)
	pruned := n.keys.Prune(now)
	if len(rotated) > 0 || pruned > 0 {
		if serr := n.keys.SaveFile(filepath.Join(n.cfg.DataDir, signingKeyFile)); serr != nil {
			return serr
		}
		n.log.Info("signing keys rotated", "rotated", rotated, "pruned", pruned)
	}
	if err != nil {
		return err
	}
	if len(rotated) > 0 || pruned > 0 {
		return n.publishOperator(ctx)
	}
	return nil
}

// operatorKeys rotates the operator's keys when its admin asks (POST
// /v1/operator/keys/rotate), on the operator's own node: private keys never
// leave it.
type operatorKeys struct{ n *Node }

// RotateKeys replaces the operator's signing keys, its sealing key, or both,
// and publishes the public halves in the operator's record. Signing keys
// rotate as on the schedule (old ones stay published until their tokens
// expire); the replaced sealing key still opens subscriber_ids sealed before
// the new one reached every replica.
func (k operatorKeys) RotateKeys(ctx context.Context, signing, sealing bool) error {
	n := k.n
	if sealing {
		// Rotate only once the previous rotation's key is the registered
		// one: rotating twice before publishing would leave the registry
		// naming a key that is neither current nor previous here, and no
		// subscriber_id from discovery would open.
		current, _, err := n.sealing.publicPEMs()
		if err != nil {
			return err
		}
		if o := n.raft.Registry().Operator(n.cfg.OperatorID); o == nil || o.SealingKey == current && n.sealing.currentSealKeyPublished(o) {
			if err := n.sealing.rotate(); err != nil {
				return err
			}
		}
	}
	if signing {
		// A period of zero makes every active key due.
		if err := n.rotateKeys(ctx, time.Now(), 0); err != nil {
			return err
		}
	}
	return n.publishOperator(ctx)
}
