package federation

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcfed/mcfed/raft"
)

// cluster is the node's place in the Raft cluster: its server, which holds
// the replica (node.Registry), the one write path (node.Apply: committed,
// and applied here, forwarded to the leader when needed) and consistent
// reads (node.ReadIndex). The cluster secret that nodes present to each
// other is node-local key custody, kept here in the data directory.
type cluster struct {
	node *raft.Node
}

// clusterSecretFile holds the cluster secret in a node's data directory.
const clusterSecretFile = "cluster-secret"

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

func loadOrCreateSecret(dir string, create bool) (string, error) {
	path := filepath.Join(dir, clusterSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return "", err
	}
	s := randomToken()
	return s, writeSecret(dir, s)
}

func writeSecret(dir, s string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, clusterSecretFile), []byte(s+"\n"), 0o600)
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
