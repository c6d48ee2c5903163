package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	hraft "github.com/hashicorp/raft"

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
	// Certificate is the fingerprint of the TLS client certificate the
	// node joined with, as the member it asked saw it: a member sets it,
	// whatever the joining node sent.
	Certificate string `json:"certificate,omitempty"`
}

// JoinResponse tells the new node who admitted it. It holds no secret: the
// node authenticates with the credential it registered.
type JoinResponse struct {
	Leader string `json:"leader"`
}

// ErrBadJoinToken: the join token is unusable (unknown, used, issued for
// another node, expired), or the certificate the node joined with does
// not name it. The detail says which.
var ErrBadJoinToken = errors.New("the join token is not valid")

// joinRefusal is a refused join: its detail, and ErrBadJoinToken.
type joinRefusal struct{ detail string }

func (e *joinRefusal) Error() string { return e.detail }

func (e *joinRefusal) Is(target error) bool { return target == ErrBadJoinToken }

// admit runs on the leader: it spends the token, records the node and its
// credentials (one command, authored by the leader's node: the token is
// the authority) and adds the node as a voter. A join never changes a
// member: one naming a member's id or raft address is refused, and a
// spent token admits nobody, its own node included.
func (n *Node) admit(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	if req.ID == "" || req.RaftAddr == "" || req.AdminURL == "" || req.Token == "" {
		return JoinResponse{}, &registry.Error{Code: registry.CodeInvalid, Message: "id, raft_addr, admin_url and token are required"}
	}
	if n.cfg.TLS != nil && req.Certificate == "" {
		return JoinResponse{}, &joinRefusal{"with TLS, a node joins presenting a certificate that names it"}
	}
	// The checks below read the leader's replica: it must hold the token.
	if err := n.caughtUpAsLeader(ctx); err != nil {
		return JoinResponse{}, err
	}
	use := registry.UseJoinToken{Hash: registry.HashSecret(req.Token), Node: req.ID, Now: time.Now().Unix(),
		Record:       &registry.Node{ID: req.ID, RaftAddr: req.RaftAddr, AdminURL: req.AdminURL},
		NodeVerifier: req.NodeVerifier, AdminVerifier: req.AdminVerifier, Operator: req.Operator, Certificate: req.Certificate}
	// Refuse what the leader's replica and configuration already show to
	// be refused without writing to the log, so that guesses and replays
	// cost the cluster nothing; the command re-checks atomically against
	// concurrent joins.
	token := n.Registry().JoinToken(use.Hash)
	if err := registry.CheckJoinToken(token, req.ID, use.Now); err != nil {
		return JoinResponse{}, &joinRefusal{err.(*registry.Error).Message}
	}
	cf, err := n.newMember(req.ID, req.RaftAddr)
	if err != nil {
		return JoinResponse{}, err
	}
	if req.NodeVerifier == "" {
		return JoinResponse{}, &registry.Error{Code: registry.CodeInvalid, Message: "node_verifier is required: a node joins with a credential of its own"}
	}
	// The leader's own steps: they must not be forwarded if it loses the
	// leadership meanwhile (the joiner retries).
	if _, err := n.propose(ctx, n.Self(), registry.MustEncode(registry.CmdUseJoinToken, use)); err != nil {
		if e, ok := errors.AsType[*registry.Error](err); ok && e.Code == registry.CodeForbidden {
			return JoinResponse{}, &joinRefusal{e.Message}
		}
		return JoinResponse{}, err
	}
	// Only if the configuration is still the one checked: a server added
	// never replaces another. A token may admit a non-voter, which never
	// leads (token is the one CmdUseJoinToken just spent); where the
	// federation named its voters, every other node joins as a non-voter
	// (voters.go).
	add, kind := n.raft.AddVoter, "voter"
	if rules := n.Registry().VoterRules(); token.NonVoter || rules != nil && !slices.Contains(rules.Voters, req.ID) {
		add, kind = n.raft.AddNonvoter, "non-voter"
	}
	if err := add(hraft.ServerID(req.ID), hraft.ServerAddress(req.RaftAddr), cf, 0).Error(); err != nil {
		return JoinResponse{}, fmt.Errorf("add %s %s: %w", kind, req.ID, err)
	}
	return JoinResponse{Leader: n.cfg.ID}, nil
}

// newMember refuses an id or raft address the Raft configuration holds,
// and returns the configuration's index to add the node at.
func (n *Node) newMember(id, addr string) (uint64, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return 0, &registry.Error{Code: registry.CodeConflict, Message: "node " + id +
				" is already a member: a join never changes a member (to admit it again: DELETE /v1/cluster/nodes/" + id + ", then a new join token)"}
		}
		if string(s.Address) == addr {
			return 0, &registry.Error{Code: registry.CodeConflict, Message: "raft address " + addr + " is member " + string(s.ID) + "'s"}
		}
	}
	return f.Index(), nil
}

// PruneJoinTokens removes, every period while this node leads, the join
// tokens expired at its clock, until ctx ends; log hears of failures.
func (n *Node) PruneJoinTokens(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now().Unix()
		if !n.IsLeader() || n.Registry().ExpiredJoinTokens(now) == 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.propose(pctx, n.Self(), registry.MustEncode(registry.CmdPruneJoinTokens, registry.PruneJoinTokens{Now: now}))
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("pruning expired join tokens", "err", err)
		}
	}
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

// JoinPath is where a member's admin API takes join requests; the joining
// node's side is federation's (federation/join.go).
const JoinPath = pathJoin

// JoinThrough names the member whose admin API at base this node asks to
// admit it. The leader connects to a new node before the join is answered,
// before the node's registry holds anybody's certificate: until it has
// caught up, this member vouches for the members' certificates (peers.go).
func (n *Node) JoinThrough(base string) { n.peers.joinBase.Store(&base) }
