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
// It carries verifiers, never secrets: the node keeps the secret of its
// node credential, and its admin token, to itself.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	AdminURL string `json:"admin_url"`
	Token    string `json:"token"`
	// NodeVerifier is registry.HashSecret of the node's own secret.
	NodeVerifier string `json:"node_verifier"`
	// AdminVerifier is the slow verifier of the node's --admin-token,
	// registered as operator admin of Operator, the operator the node
	// serves ("": none, and the token gets no role).
	AdminVerifier string `json:"admin_verifier,omitempty"`
	Operator      string `json:"operator,omitempty"`
}

// JoinResponse tells the new node who admitted it. It holds no secret: the
// node authenticates with the credential it registered.
type JoinResponse struct {
	Leader string `json:"leader"`
}

// ErrBadJoinToken is the one answer to any unusable token (unknown, used,
// expired), so a caller cannot probe which tokens exist.
var ErrBadJoinToken = errors.New("the join token is not valid")

// admit runs on the leader: it spends the token, records the node and its
// credentials (one command, authored by the leader's node: the token is
// the authority) and adds the node as a voter. A node that joins again
// with the token it used (a restart before it saved its state) is admitted
// again; a changed address replaces the old one.
func (n *Node) admit(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	if req.ID == "" || req.RaftAddr == "" || req.AdminURL == "" || req.Token == "" {
		return JoinResponse{}, &registry.Error{Code: registry.CodeInvalid, Message: "id, raft_addr, admin_url and token are required"}
	}
	use := registry.UseJoinToken{Hash: registry.HashSecret(req.Token), Node: req.ID, Now: time.Now().Unix(),
		Record:       &registry.Node{ID: req.ID, RaftAddr: req.RaftAddr, AdminURL: req.AdminURL},
		NodeVerifier: req.NodeVerifier, AdminVerifier: req.AdminVerifier, Operator: req.Operator}
	// Refuse a token the leader's replica already knows to be bad without
	// writing to the log, so that guessing costs the cluster nothing; the
	// command re-checks atomically against concurrent joins.
	t := n.Registry().JoinToken(use.Hash)
	if t == nil || (t.UsedBy != "" && t.UsedBy != req.ID) || use.Now >= t.ExpiresAt {
		return JoinResponse{}, ErrBadJoinToken
	}
	if req.NodeVerifier == "" {
		return JoinResponse{}, &registry.Error{Code: registry.CodeInvalid, Message: "node_verifier is required: a node joins with a credential of its own"}
	}
	// The leader's own steps: they must not be forwarded if it loses the
	// leadership meanwhile (the joiner retries).
	if _, err := n.propose(ctx, n.Self(), registry.MustEncode(registry.CmdUseJoinToken, use)); err != nil {
		switch registry.CodeOf(err) {
		case "":
			return JoinResponse{}, err
		case registry.CodeInvalid, registry.CodeConflict:
			if t := n.Registry().JoinToken(use.Hash); t != nil && t.UsedBy == "" {
				return JoinResponse{}, err // the token is good, the request is not
			}
		}
		return JoinResponse{}, ErrBadJoinToken
	}
	if err := n.AddVoter(req.ID, req.RaftAddr); err != nil {
		return JoinResponse{}, err
	}
	return JoinResponse{Leader: n.cfg.ID}, nil
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
	err = n.call(ctx, http.MethodPost, base+pathInternalJoin, "application/json", body, n.Self(), &out)
	return out, err
}

// Join asks the member whose admin API is at base to admit this node, with
// req (its id and raft address are filled in here), retrying while the
// cluster has no leader, until ctx ends; a refused token ends it at once.
func (n *Node) Join(ctx context.Context, base string, req JoinRequest) error {
	req.ID, req.RaftAddr = n.cfg.ID, n.Addr()
	backoff := 100 * time.Millisecond
	for {
		_, err := n.postJoin(ctx, base, req)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrCredentialsPending) {
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
		if err := json.Unmarshal(data, &out); err != nil || out.Leader == "" {
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
