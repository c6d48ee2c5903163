package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// cluster is the write path of a node: a command goes to the local Raft
// server when it leads, and is forwarded to the leader's admin API
// otherwise. Nodes authenticate to each other's internal endpoints with the
// cluster secret, which the bootstrap node creates and hands to each node
// that joins with a valid token; it lives in the data directory, never in the
// registry.
type cluster struct {
	node   *raft.Node
	secret string
	client *http.Client
	// applied observes every write the node makes (its metrics).
	applied interface {
		ObserveApply(start time.Time, err error)
	}
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

// writeTimeout bounds a write whose caller set no deadline: through an
// election it is retried, but not forever.
const writeTimeout = 30 * time.Second

// apply commits cmd, forwarding it to the leader when this node is not the
// leader, and retrying while an election is in progress, until ctx ends.
func (c *cluster) apply(ctx context.Context, cmd []byte) (idx uint64, err error) {
	if c.applied != nil {
		defer func(start time.Time) { c.applied.ObserveApply(start, err) }(time.Now())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, writeTimeout)
		defer cancel()
	}
	backoff := 20 * time.Millisecond
	for {
		idx, err := c.node.Apply(ctx, cmd)
		var nl *raft.NotLeaderError
		if errors.As(err, &nl) && nl.LeaderID != "" {
			idx, err = c.forward(ctx, nl.LeaderID, cmd)
		}
		if err == nil || !errors.Is(err, raft.ErrNotLeader) {
			return idx, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// leaderURL returns the admin URL of the node with id, from the registry.
func (c *cluster) adminURL(id string) (string, error) {
	n := c.node.Registry().Node(id)
	if n == nil {
		return "", &raft.NotLeaderError{} // its record is not replicated here yet: retry
	}
	return strings.TrimRight(n.AdminURL, "/"), nil
}

// forward sends cmd to the leader's internal apply endpoint.
func (c *cluster) forward(ctx context.Context, leader string, cmd []byte) (uint64, error) {
	base, err := c.adminURL(leader)
	if err != nil {
		return 0, err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	err = c.call(ctx, http.MethodPost, base+"/v1/internal/apply", "application/octet-stream", cmd, &out)
	return out.Index, err
}

// readIndex makes the next local read linearizable: the leader confirms its
// leadership and tells its commit index, and this node waits until its
// replica has applied that far.
func (c *cluster) readIndex(ctx context.Context) error {
	if c.node.IsLeader() {
		return c.node.VerifyLeader()
	}
	leader, _ := c.node.Leader()
	if leader == "" {
		return &raft.NotLeaderError{}
	}
	base, err := c.adminURL(leader)
	if err != nil {
		return err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := c.call(ctx, http.MethodGet, base+"/v1/internal/read-index", "", nil, &out); err != nil {
		return err
	}
	return c.node.WaitApplied(ctx, out.Index)
}

// call makes an internal request to another node and decodes its answer; a
// problem answer becomes the matching error (a registry refusal keeps its
// code, so the caller answers as if it had applied the command itself).
func (c *cluster) call(ctx context.Context, method, url, ctype string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	if id := RequestID(ctx); id != "" {
		// The leader logs the forwarded write under the caller's request id.
		req.Header.Set(headerRequestID, id)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// The leader may be going away: let the caller retry with whoever
		// leads next.
		return fmt.Errorf("forward to %s: %v: %w", url, err, raft.ErrNotLeader)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("forward to %s: %v: %w", url, err, raft.ErrNotLeader)
	}
	if resp.StatusCode == http.StatusOK {
		return json.Unmarshal(data, out)
	}
	var p problem
	_ = json.Unmarshal(data, &p)
	return errorFromProblem(resp.StatusCode, p)
}

func errorFromProblem(status int, p problem) error {
	switch {
	case status == http.StatusServiceUnavailable:
		return fmt.Errorf("leader: %s: %w", p.Detail, raft.ErrNotLeader)
	case p.Type == problemBase+"invalid":
		return &registry.Error{Code: registry.CodeInvalid, Message: p.Detail}
	case p.Type == problemBase+"not-found":
		return &registry.Error{Code: registry.CodeNotFound, Message: p.Detail}
	case p.Type == problemBase+"conflict":
		return &registry.Error{Code: registry.CodeConflict, Message: p.Detail}
	case p.Type == problemBase+"stale":
		return &registry.Error{Code: registry.CodeStale, Message: p.Detail}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return newProblem(502, "cluster-auth", "the leader refused this node's cluster secret")
	}
	return newProblem(502, "forward", fmt.Sprintf("the leader answered %d: %s", status, p.Detail))
}

// checkSecret compares a presented bearer token with want in constant time.
func checkSecret(presented, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(want)) == 1
}
