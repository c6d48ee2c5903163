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

	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/registry"
)

// The write path. Every write of a node goes through Apply: on the leader
// it is committed through the local Raft server; on a follower it is
// forwarded to the leader's internal endpoint (internal_http.go), which
// commits it there and answers with its log index or a typed code
// (wire.go); either way Apply returns once this node's replica has applied
// it, so the caller reads its own write here. The leader authenticates the
// credential the caller presented and commits the command with its author
// (author.go). Nodes authenticate to each other's internal endpoints with
// their own node credentials. Every try of one write carries one write id
// (writeid.go), so that a try whose answer was lost and is made again is
// applied once.

// writeTimeout bounds a write or a consistent read whose caller set no
// deadline: through an election it is retried, but not forever.
const writeTimeout = 30 * time.Second

// Apply commits an encoded registry command made with the credential p
// (the caller's, or the node's own: Self) and returns its log index once
// this node's replica has applied it: a read on this node after Apply sees
// the write. When this node does not lead, the command is forwarded to the
// leader with p; through an election it is retried until ctx ends (30 s
// when ctx has no deadline). A registry refusal comes back as
// *registry.Error, whichever node refused it (CodeForbidden when p's
// author may not make the command); a credential the leader does not
// accept as ErrUnauthenticated; no leader before ctx ended as an error
// wrapping ErrNotLeader. A node without a node secret (Raft alone, as in
// this package's tests) has nobody to forward to: a follower answers
// *NotLeaderError at once.
//
// A write is applied once, however often it is tried: a try the leader
// committed but whose answer was lost is answered, when tried again, with
// the first try's outcome and index (a create succeeds, not a conflict).
// Commands written without an Authenticator carry no author and so no
// write id: for them a retry may apply twice, as before.
func (n *Node) Apply(ctx context.Context, p Presented, cmd []byte) (idx uint64, err error) {
	if obs := n.cfg.ObserveWrite; obs != nil {
		defer func(start time.Time) { obs(start, err) }(time.Now())
	}
	if err := forwardable(cmd); err != nil {
		return 0, err
	}
	ctx, cancel := withWriteTimeout(ctx)
	defer cancel()
	ctx = withWriteID(ctx, newWriteID())
	err = n.retry(ctx, func() error {
		idx, err = n.propose(ctx, p, cmd)
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.LeaderID != "" && n.nodeSecret() != "" {
			idx, err = n.forward(ctx, nl.LeaderID, p, cmd)
		}
		return err
	})
	if err != nil {
		return idx, err
	}
	return idx, n.waitLocal(ctx, idx)
}

// ReadIndex makes the next read of the local replica linearizable: the
// leader confirms with a quorum that it still leads and tells its commit
// index, and this node waits until its replica has applied that far. Like
// Apply it retries through an election until ctx ends.
func (n *Node) ReadIndex(ctx context.Context) error {
	ctx, cancel := withWriteTimeout(ctx)
	defer cancel()
	return n.retry(ctx, func() error {
		if n.IsLeader() {
			idx, err := n.leaderReadIndex()
			if err != nil {
				return err
			}
			return n.waitLocal(ctx, idx)
		}
		leader, _ := n.Leader()
		if leader == "" || n.nodeSecret() == "" {
			return n.notLeader()
		}
		base, err := n.adminURL(leader)
		if err != nil {
			return err
		}
		var out struct {
			Index uint64 `json:"index"`
		}
		if err := n.call(ctx, http.MethodGet, base+pathReadIndex, "", nil, n.Self(), &out); err != nil {
			return err
		}
		return n.waitLocal(ctx, out.Index)
	})
}

// leaderReadIndex is the commit index of a leader that has just confirmed
// it still leads.
func (n *Node) leaderReadIndex() (uint64, error) {
	idx := n.CommitIndex()
	if err := n.VerifyLeader(); err != nil {
		return 0, err
	}
	return idx, nil
}

// staleRetries bounds how often Update builds again after losing a race
// with another write to the same rows.
const staleRetries = 5

// Update is a read-modify-write: it reads the registry as the federation
// holds it now (ReadIndex: at the leader's index, not as a lagging replica
// holds it), lets build make a command from it (nil: write nothing), and
// applies it with p; a conditional command the registry refuses as stale
// (somebody wrote the rows in between) is built again from a new read.
func (n *Node) Update(ctx context.Context, p Presented, build func(*registry.Registry) ([]byte, error)) (written bool, err error) {
	for attempt := 0; ; attempt++ {
		if err := n.ReadIndex(ctx); err != nil {
			return false, err
		}
		cmd, err := build(n.Registry())
		if err != nil || cmd == nil {
			return false, err
		}
		_, err = n.Apply(ctx, p, cmd)
		if registry.CodeOf(err) == registry.CodeStale && attempt < staleRetries {
			continue
		}
		return err == nil, err
	}
}

func withWriteTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, writeTimeout)
}

// retry runs try until it succeeds or fails with anything but the lack of
// a leader (or of the first node's credentials), backing off while an
// election runs, until ctx ends.
func (n *Node) retry(ctx context.Context, try func() error) error {
	backoff := 20 * time.Millisecond
	for {
		err := try()
		pending := errors.Is(err, ErrCredentialsPending)
		if err == nil || !pending && (!errors.Is(err, ErrNotLeader) || n.nodeSecret() == "") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// waitLocal waits until the local registry has applied index; on the node
// that committed it, it already has.
func (n *Node) waitLocal(ctx context.Context, index uint64) error {
	if n.Registry().AppliedIndex() >= index {
		return nil
	}
	return n.WaitApplied(ctx, index)
}

// forward sends cmd, made with p, to the leader's internal apply endpoint.
func (n *Node) forward(ctx context.Context, leader string, p Presented, cmd []byte) (uint64, error) {
	base, err := n.adminURL(leader)
	if err != nil {
		return 0, err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	err = n.call(ctx, http.MethodPost, base+pathApply, "application/octet-stream", cmd, p, &out)
	return out.Index, err
}

// adminURL returns the admin URL of the member id, from the registry.
func (n *Node) adminURL(id string) (string, error) {
	rec := n.Registry().Node(id)
	if rec == nil {
		return "", &NotLeaderError{} // its record is not replicated here yet: retry
	}
	return strings.TrimRight(rec.AdminURL, "/"), nil
}

// call makes an internal request to another member, as this node and on
// behalf of p (when p is not the node itself), and decodes its answer into
// out; a failure comes back as the error the member answered with.
func (n *Node) call(ctx context.Context, method, url, ctype string, body []byte, p Presented, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+n.nodeSecret())
	req.Header.Set(nodeHeader, n.cfg.ID)
	if p != n.Self() {
		req.Header.Set(presentedHeader, p.Credential)
		req.Header.Set(presentedSecretHeader, p.Secret)
	}
	if id := requestid.From(ctx); id != "" {
		// The leader logs the forwarded write under the caller's request id.
		req.Header.Set(requestid.Header, id)
	}
	if id := writeIDFrom(ctx); id != "" {
		req.Header.Set(writeIDHeader, id)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		// The leader may be going away: let the caller retry with whoever
		// leads next.
		return fmt.Errorf("forward to %s: %v: %w", url, err, ErrNotLeader)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("forward to %s: %v: %w", url, err, ErrNotLeader)
	}
	if resp.StatusCode != http.StatusOK {
		return fromWire(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &RemoteError{Status: resp.StatusCode, Message: "unreadable answer: " + err.Error()}
	}
	return nil
}
