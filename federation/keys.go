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

// The key files of the node's data directory from before the operator's
// keys moved to the state store (keyvault.go): a node that still has them
// stores those keys on its first start, so its issuer's keys and its
// record's sealing keys stay the same. Nothing writes them any more.
const (
	sealingKeyFile = "sealing-key.pem" // opens subscriber_id / ENCR_MSISDN
	signingKeyFile = "signing-keys.json"
)

// maxTokenLifetime bounds how long an ID token signed by a key stays
// verifiable, so a rotated-out key stays published that long.
const maxTokenLifetime = 24 * time.Hour

// algorithms are those the gateway keeps a signing key for: RS256 (the
// SDKs' default), PS256 and ES256 (which SPs may register).
var algorithms = []jose.Alg{jose.RS256, jose.PS256, jose.ES256}

// readRSAKeyOrNew reads the RSA key in path, or makes one when there is no
// such file.
func readRSAKeyOrNew(path string) (*rsa.PrivateKey, error) {
	key, err := readRSAKey(path)
	if errors.Is(err, os.ErrNotExist) {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return key, err
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
	mu       sync.RWMutex
	current  *rsa.PrivateKey
	previous *rsa.PrivateKey // nil before the first rotation
	// x25519 are the gateway's X25519 keys, the current one first; sym
	// opens with them, finding sealing nodes' keys in the registry.
	x25519 []discovery.SealKeyPair
	sym    *discovery.SymOpener
}

// sealingKeysFromFiles reads the sealing keys a node kept in its data
// directory before the store, making those it has not.
func sealingKeysFromFiles(dir string, k *sealingKeys) error {
	var err error
	if k.current, err = readRSAKeyOrNew(filepath.Join(dir, sealingKeyFile)); err != nil {
		return fmt.Errorf("sealing key: %w", err)
	}
	if k.previous, err = readRSAKey(filepath.Join(dir, previousSealingKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("previous sealing key: %w", err)
	}
	if err := k.loadGatewaySealKeys(dir); err != nil {
		return fmt.Errorf("gateway seal keys: %w", err)
	}
	return nil
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

// rotate makes a new current key and keeps the current one as previous;
// the X25519 key rotates with it. The caller stores them (keyVault.save).
func (k *sealingKeys) rotate() error {
	next, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
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
	// Another node of the operator may have rotated already: start from
	// the stored keys, and store ours only if none came in between.
	if _, err := n.vault.reload(ctx, n.keys, n.sealing); err != nil {
		return err
	}
	rotated, err := n.keys.RotateDue(now, period)
	pruned := n.keys.Prune(now)
	if len(rotated) > 0 || pruned > 0 {
		if serr := n.vault.save(ctx, n.keys, n.sealing); serr != nil {
			if errors.Is(serr, errKeysMoved) {
				_, serr = n.vault.reload(ctx, n.keys, n.sealing)
			}
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
			if _, err := n.vault.reload(ctx, n.keys, n.sealing); err != nil {
				return err
			}
			if err := n.sealing.rotate(); err != nil {
				return err
			}
			if err := n.vault.save(ctx, n.keys, n.sealing); err != nil {
				// Another node wrote meanwhile: its keys stand.
				if _, rerr := n.vault.reload(ctx, n.keys, n.sealing); rerr != nil {
					return errors.Join(err, rerr)
				}
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
