package raft

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

	"github.com/mcfed/mcfed/registry"
)

// JoinRequest is what a new node sends to any member's admin API to join.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	AdminURL string `json:"admin_url"`
	Token    string `json:"token"`
}

// JoinResponse hands the new node the cluster secret it needs to forward
// writes and ask for read indexes.
type JoinResponse struct {
	ClusterSecret string `json:"cluster_secret"`
	Leader        string `json:"leader"`
}

// ErrBadJoinToken is the one answer to any unusable token (unknown, used,
// expired), so a caller cannot probe which tokens exist.
var ErrBadJoinToken = errors.New("the join token is not valid")

// admit runs on the leader: it spends the token, adds the node as a voter
// and records its admin URL. A node that joins again with the token it used
// (a restart before it saved the secret) is admitted again; a changed
// address replaces the old one.
func (n *Node) admit(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	if req.ID == "" || req.RaftAddr == "" || req.AdminURL == "" || req.Token == "" {
		return JoinResponse{}, &registry.Error{Code: registry.CodeInvalid, Message: "id, raft_addr, admin_url and token are required"}
	}
	use := registry.UseJoinToken{Hash: registry.HashSecret(req.Token), Node: req.ID, Now: time.Now().Unix()}
	// Refuse a token the leader's replica already knows to be bad without
	// writing to the log, so that guessing costs the cluster nothing; the
	// command re-checks atomically against concurrent joins.
	t := n.Registry().JoinToken(use.Hash)
	if t == nil || (t.UsedBy != "" && t.UsedBy != req.ID) || use.Now >= t.ExpiresAt {
		return JoinResponse{}, ErrBadJoinToken
	}
	// The leader's own steps: they must not be forwarded if it loses the
	// leadership meanwhile (the joiner retries).
	if _, err := n.applyLocal(ctx, registry.MustEncode(registry.CmdUseJoinToken, use)); err != nil {
		if registry.CodeOf(err) != "" {
			return JoinResponse{}, ErrBadJoinToken
		}
		return JoinResponse{}, err
	}
	if err := n.AddVoter(req.ID, req.RaftAddr); err != nil {
		return JoinResponse{}, err
	}
	rec := registry.Node{ID: req.ID, RaftAddr: req.RaftAddr, AdminURL: req.AdminURL}
	if old := n.Registry().Node(req.ID); old != nil {
		rec.Operator = old.Operator
	}
	if _, err := n.applyLocal(ctx, registry.MustEncode(registry.CmdPutNode, rec)); err != nil {
		return JoinResponse{}, err
	}
	return JoinResponse{ClusterSecret: n.clusterSecret(), Leader: n.cfg.ID}, nil
}

// handleJoin answers a join request on any member: the leader admits the
// node, a follower passes the request on to the leader's internal join.
func (n *Node) handleJoin(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	if n.IsLeader() {
		return n.admit(ctx, req)
	}
	leader, _ := n.Leader()
	if leader == "" {
		return JoinResponse{}, n.notLeader()
	}
	base, err := n.adminURL(leader)
	if err != nil {
		return JoinResponse{}, err
	}
	body, _ := json.Marshal(req)
	var out JoinResponse
	err = n.call(ctx, http.MethodPost, base+pathInternalJoin, "application/json", body, &out)
	return out, err
}

// Join asks the member whose admin API is at base to admit this node,
// retrying while the cluster has no leader, until ctx ends; a refused token
// ends it at once. It returns the cluster secret, which the node now
// holds, for the caller to keep.
func (n *Node) Join(ctx context.Context, base, token, adminURL string) (string, error) {
	req := JoinRequest{ID: n.cfg.ID, RaftAddr: n.Addr(), AdminURL: adminURL, Token: token}
	backoff := 100 * time.Millisecond
	for {
		resp, err := n.postJoin(ctx, base, req)
		if err == nil {
			n.SetClusterSecret(resp.ClusterSecret)
			return resp.ClusterSecret, nil
		}
		if !errors.Is(err, ErrNotLeader) {
			return "", fmt.Errorf("join via %s: %w", base, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("join via %s: %w", base, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// postJoin sends a join request to a member's public join endpoint, which
// answers as the rest of the admin API does (RFC 9457 problems): the
// status tells a refused token (403) from a cluster that cannot admit
// anybody yet (503, or no answer), which is worth another try.
func (n *Node) postJoin(ctx context.Context, base string, req JoinRequest) (JoinResponse, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+pathJoin, bytes.NewReader(body))
	if err != nil {
		return JoinResponse{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := n.cfg.Client.Do(hreq)
	if err != nil {
		return JoinResponse{}, fmt.Errorf("%v: %w", err, ErrNotLeader)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var problem struct {
		Detail string `json:"detail"`
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var out JoinResponse
		if err := json.Unmarshal(data, &out); err != nil || out.ClusterSecret == "" {
			return JoinResponse{}, errors.New("unreadable answer")
		}
		return out, nil
	case http.StatusForbidden:
		return JoinResponse{}, ErrBadJoinToken
	case http.StatusServiceUnavailable:
		_ = json.Unmarshal(data, &problem)
		return JoinResponse{}, fmt.Errorf("%s: %w", problem.Detail, ErrNotLeader)
	}
	_ = json.Unmarshal(data, &problem)
	return JoinResponse{}, &RemoteError{Status: resp.StatusCode, Message: problem.Detail}
}
