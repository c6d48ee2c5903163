package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// joinRequest is what a new node sends to any member's admin API to join.
type joinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	AdminURL string `json:"admin_url"`
	Token    string `json:"token"`
}

// joinResponse hands the new node the cluster secret it needs to forward
// writes and ask for read indexes.
type joinResponse struct {
	ClusterSecret string `json:"cluster_secret"`
	Leader        string `json:"leader"`
}

// errBadJoinToken is the one answer to any unusable token (unknown, used,
// expired), so a caller cannot probe which tokens exist.
var errBadJoinToken = newProblem(403, "join-token", "the join token is not valid")

// admit runs on the leader: it spends the token, adds the node as a voter
// and records its admin URL. A node that joins again with the token it used
// (a restart before it saved the secret) is admitted again; a changed address
// replaces the old one.
func (n *Node) admit(ctx context.Context, req joinRequest) (joinResponse, error) {
	if req.ID == "" || req.RaftAddr == "" || req.AdminURL == "" || req.Token == "" {
		return joinResponse{}, badRequest("id, raft_addr, admin_url and token are required")
	}
	use := registry.UseJoinToken{Hash: registry.HashSecret(req.Token), Node: req.ID, Now: time.Now().Unix()}
	// Refuse a token the leader's replica already knows to be bad without
	// writing to the log, so that guessing costs the cluster nothing; the
	// command re-checks atomically against concurrent joins.
	t := n.cluster.node.Registry().JoinToken(use.Hash)
	if t == nil || (t.UsedBy != "" && t.UsedBy != req.ID) || use.Now >= t.ExpiresAt {
		return joinResponse{}, errBadJoinToken
	}
	if _, err := n.cluster.node.Apply(ctx, registry.MustEncode(registry.CmdUseJoinToken, use)); err != nil {
		if registry.CodeOf(err) != "" {
			return joinResponse{}, errBadJoinToken
		}
		return joinResponse{}, err
	}
	if err := n.cluster.node.AddVoter(req.ID, req.RaftAddr); err != nil {
		return joinResponse{}, err
	}
	rec := registry.Node{ID: req.ID, RaftAddr: req.RaftAddr, AdminURL: req.AdminURL}
	if old := n.cluster.node.Registry().Node(req.ID); old != nil {
		rec.Operator = old.Operator
	}
	if _, err := n.cluster.node.Apply(ctx, registry.MustEncode(registry.CmdPutNode, rec)); err != nil {
		return joinResponse{}, err
	}
	return joinResponse{ClusterSecret: n.cluster.secret, Leader: n.cfg.NodeID}, nil
}

// handleJoin is the admin API's join endpoint; the join token is its
// credential. A follower passes the request on to the leader.
func (n *Node) handleJoin(ctx context.Context, req joinRequest) (joinResponse, error) {
	if n.cluster.node.IsLeader() {
		return n.admit(ctx, req)
	}
	leader, _ := n.cluster.node.Leader()
	if leader == "" {
		return joinResponse{}, &raft.NotLeaderError{}
	}
	base, err := n.cluster.adminURL(leader)
	if err != nil {
		return joinResponse{}, err
	}
	return postJoin(ctx, n.cluster.client, base, req)
}

// postJoin sends a join request to a member's admin API.
func postJoin(ctx context.Context, client *http.Client, base string, req joinRequest) (joinResponse, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/cluster/join", bytes.NewReader(body))
	if err != nil {
		return joinResponse{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return joinResponse{}, fmt.Errorf("join via %s: %v: %w", base, err, raft.ErrNotLeader)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var p problem
		_ = json.Unmarshal(data, &p)
		if resp.StatusCode == http.StatusForbidden {
			return joinResponse{}, errBadJoinToken
		}
		return joinResponse{}, errorFromProblem(resp.StatusCode, p)
	}
	var out joinResponse
	if err := json.Unmarshal(data, &out); err != nil || out.ClusterSecret == "" {
		return joinResponse{}, fmt.Errorf("join via %s: unreadable answer", base)
	}
	return out, nil
}

// join asks the member at base to admit this node, retrying while the
// cluster has no leader, until ctx ends. A refused token ends it at once.
func (n *Node) join(ctx context.Context, base, token string) error {
	req := joinRequest{ID: n.cfg.NodeID, RaftAddr: n.cluster.node.Addr(), AdminURL: n.AdminURL(), Token: token}
	backoff := 100 * time.Millisecond
	for {
		resp, err := postJoin(ctx, n.cluster.client, base, req)
		if err == nil {
			n.cluster.secret = resp.ClusterSecret
			return writeSecret(n.cfg.DataDir, resp.ClusterSecret)
		}
		if !errors.Is(err, raft.ErrNotLeader) {
			return fmt.Errorf("join via %s: %w", base, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join via %s: %w", base, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
