package federation

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/mcfed/mcfed/discovery"
)

// previousSealingKeyFile keeps the sealing key a rotation replaced: discovery
// answers sealed with it just before the rotation (or by a node whose
// replica had not yet seen the new key) still open. subscriber_ids live for
// the seconds to minutes between discovery and /authorize, so one previous
// key is enough; a second rotation retires it.
const previousSealingKeyFile = "sealing-key.previous.pem"

// sealingKeys opens ENCR_MSISDN login hints with the operator's current
// sealing key, or the previous one.
type sealingKeys struct {
	dir      string
	mu       sync.RWMutex
	current  *rsa.PrivateKey
	previous *rsa.PrivateKey // nil before the first rotation
}

func loadSealingKeys(dir string) (*sealingKeys, error) {
	cur, _, err := sealingKey(dir)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	k := &sealingKeys{dir: dir, current: cur}
	if k.previous, err = readRSAKey(filepath.Join(dir, previousSealingKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("previous sealing key: %w", err)
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

func (k *sealingKeys) OpenLoginHint(subscriberID string) (uint64, error) {
	k.mu.RLock()
	cur, prev := k.current, k.previous
	k.mu.RUnlock()
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
// old key in both files and nothing lost).
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
	return nil
}
