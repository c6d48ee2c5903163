package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/registry"
)

// Voters and non-voters. A federation of many operators' nodes runs three
// or five voters; every other node replicates as a non-voter (its reads
// are the same, it never votes nor leads). The registry's voter rules
// (registry/voters.go) name the voters and the standby non-voters; the
// leader brings Raft's configuration to them (ManageVoters) and replaces a
// voter it has lost with a standby. A promotion is Raft's AddVoter on the
// existing non-voter, at the address it has: the node's record and the
// certificate its credential is bound to do not change, so with TLS the
// members accept its connections as soon as their configuration shows it
// voting (peers.go).
//
// hashicorp/raft does not say when the leader last heard from a follower:
// the transport notes it (commitWatch.AppendEntries), with the follower's
// last log index, from every answer, heartbeats included (every tenth of
// the heartbeat timeout).

// MembershipError is a promotion or demotion refused by what the Raft
// configuration and the followers' state show; errors.Is tells its kind.
type MembershipError struct {
	Kind   error
	Detail string
}

func (e *MembershipError) Error() string { return e.Detail }

func (e *MembershipError) Unwrap() error { return e.Kind }

// The kinds of MembershipError.
var (
	ErrUnknownMember = errors.New("not a member of the Raft configuration")
	ErrAlreadyVoter  = errors.New("already a voter")
	ErrNotVoter      = errors.New("not a voter")
	ErrNotCaughtUp   = errors.New("not caught up")
	ErrQuorumAtRisk  = errors.New("would leave the voters without a quorum in contact")
)

func membershipErr(kind error, format string, args ...any) error {
	return &MembershipError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// catchUpSlack is how many entries a follower's log may end behind the
// leader's commit index and count as caught up: answers are up to a tenth
// of a heartbeat old, and writes go on meanwhile.
const catchUpSlack = 64

// contacts are the leader's last answers from each follower.
type contacts struct {
	mu sync.Mutex
	m  map[hraft.ServerID]peerContact
}

type peerContact struct {
	at      time.Time
	lastLog uint64
}

func (c *contacts) note(id hraft.ServerID, lastLog uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[hraft.ServerID]peerContact{}
	}
	c.m[id] = peerContact{at: time.Now(), lastLog: lastLog}
}

func (c *contacts) get(id hraft.ServerID) peerContact {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// voterCounters count the changes of suffrage this node made as leader;
// mu makes one change at a time, from its check to Raft's answer: the
// admin's promotion and the leader's reconciliation of the rules it just
// recorded race for the same change, and the second must find it made
// rather than fail on a configuration changed under it.
type voterCounters struct {
	mu                               sync.Mutex
	promotions, automatic, demotions atomic.Uint64
}

// healthWindow is how recent a follower's last answer must be for the
// leader to count it in contact: three heartbeat timeouts, some thirty
// heartbeats.
func (n *Node) healthWindow() time.Duration { return 3 * n.cfg.HeartbeatTimeout }

// inContact reports whether the leader heard from id lately (itself: yes).
func (n *Node) inContact(id hraft.ServerID) bool {
	if string(id) == n.cfg.ID {
		return true
	}
	c := n.commits.contacts.get(id)
	return !c.at.IsZero() && time.Since(c.at) <= n.healthWindow()
}

// caughtUpPeer says why id is not fit to vote, or nil: it answers, and its
// log ends within catchUpSlack of the leader's commit index.
func (n *Node) caughtUpPeer(id hraft.ServerID) error {
	if !n.inContact(id) {
		return membershipErr(ErrNotCaughtUp, "node %s is not caught up: the leader has not heard from it in the last %s", id, n.healthWindow())
	}
	c, commit := n.commits.contacts.get(id), n.raft.CommitIndex()
	if c.lastLog+catchUpSlack < commit {
		return membershipErr(ErrNotCaughtUp, "node %s is not caught up: its log ends at %d, the leader's commit index is %d", id, c.lastLog, commit)
	}
	return nil
}

// quorumSafe says why a configuration whose voters are ids would not have
// a quorum in contact with the leader, or nil.
func (n *Node) quorumSafe(ids []hraft.ServerID) error {
	in := 0
	for _, id := range ids {
		if n.inContact(id) {
			in++
		}
	}
	if len(ids) == 0 || in < len(ids)/2+1 {
		return membershipErr(ErrQuorumAtRisk, "the change would leave %d voters of which %d are in contact, fewer than a quorum", len(ids), in)
	}
	return nil
}

// configuration is the latest Raft configuration and its index.
func (n *Node) configuration() (hraft.Configuration, uint64, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return hraft.Configuration{}, 0, fmt.Errorf("raft configuration: %w", err)
	}
	return f.Configuration(), f.Index(), nil
}

func votersOf(cf hraft.Configuration) []hraft.ServerID {
	var out []hraft.ServerID
	for _, s := range cf.Servers {
		if s.Suffrage == hraft.Voter {
			out = append(out, s.ID)
		}
	}
	return out
}

func serverOf(cf hraft.Configuration, id string) (hraft.Server, bool) {
	for _, s := range cf.Servers {
		if string(s.ID) == id {
			return s, true
		}
	}
	return hraft.Server{}, false
}

// CheckPromotion says why the non-voter id cannot be made a voter now (in
// place of the voter replaces, when given), or nil. It must run on the
// leader: only it knows how far each follower is.
func (n *Node) CheckPromotion(id, replaces string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	cf, _, err := n.configuration()
	if err != nil {
		return err
	}
	s, ok := serverOf(cf, id)
	switch {
	case !ok:
		return membershipErr(ErrUnknownMember, "node %s is not a member of the Raft configuration", id)
	case s.Suffrage == hraft.Voter:
		return membershipErr(ErrAlreadyVoter, "node %s is already a voter", id)
	}
	voters := append(votersOf(cf), s.ID)
	if replaces != "" {
		r, ok := serverOf(cf, replaces)
		switch {
		case !ok:
			return membershipErr(ErrUnknownMember, "node %s, which the promotion replaces, is not a member of the Raft configuration", replaces)
		case r.Suffrage != hraft.Voter:
			return membershipErr(ErrNotVoter, "node %s, which the promotion replaces, is not a voter", replaces)
		case replaces == n.cfg.ID:
			return membershipErr(ErrQuorumAtRisk, "the leader does not demote itself: promote through another voter after a new election")
		}
		voters = slices.DeleteFunc(voters, func(v hraft.ServerID) bool { return string(v) == replaces })
	}
	if err := n.caughtUpPeer(s.ID); err != nil {
		return err
	}
	return n.quorumSafe(voters)
}

// Promote makes the non-voter id a voter at the address it has (its
// certificate binding unchanged), if the configuration is still the one
// checked. It must run on the leader.
func (n *Node) Promote(id string) error {
	n.voterCounts.mu.Lock()
	defer n.voterCounts.mu.Unlock()
	if err := n.CheckPromotion(id, ""); err != nil {
		return err
	}
	cf, idx, err := n.configuration()
	if err != nil {
		return err
	}
	s, _ := serverOf(cf, id)
	if err := n.raft.AddVoter(s.ID, s.Address, idx, 0).Error(); err != nil {
		return fmt.Errorf("promote %s: %w", id, err)
	}
	n.voterCounts.promotions.Add(1)
	return nil
}

// CheckDemotion says why the voter id cannot be made a non-voter now, or
// nil: the leader does not demote itself, nor a voter whose loss would
// leave the others without a quorum in contact. It must run on the leader.
func (n *Node) CheckDemotion(id string) error {
	_, _, err := n.demotion(id)
	return err
}

func (n *Node) demotion(id string) (hraft.Server, uint64, error) {
	if !n.IsLeader() {
		return hraft.Server{}, 0, n.notLeader()
	}
	cf, idx, err := n.configuration()
	if err != nil {
		return hraft.Server{}, 0, err
	}
	s, ok := serverOf(cf, id)
	switch {
	case !ok:
		return s, 0, membershipErr(ErrUnknownMember, "node %s is not a member of the Raft configuration", id)
	case s.Suffrage != hraft.Voter:
		return s, 0, membershipErr(ErrNotVoter, "node %s is not a voter", id)
	case id == n.cfg.ID:
		return s, 0, membershipErr(ErrQuorumAtRisk, "the leader does not demote itself")
	}
	rest := slices.DeleteFunc(votersOf(cf), func(v hraft.ServerID) bool { return v == s.ID })
	return s, idx, n.quorumSafe(rest)
}

// Demote makes the voter id a non-voter, if CheckDemotion lets it and the
// configuration is still the one checked: it stays a member and keeps
// replicating. It must run on the leader.
func (n *Node) Demote(id string) error {
	n.voterCounts.mu.Lock()
	defer n.voterCounts.mu.Unlock()
	s, idx, err := n.demotion(id)
	if err != nil {
		return err
	}
	if err := n.raft.DemoteVoter(s.ID, idx, 0).Error(); err != nil {
		return fmt.Errorf("demote %s: %w", id, err)
	}
	n.voterCounts.demotions.Add(1)
	return nil
}

// ManageVoters runs, while this node leads, the federation's voter rules
// until ctx ends, each heartbeat timeout:
//   - a voter of the rules the leader has not heard from for the rules'
//     promote_after_seconds is replaced by a standby that is in contact
//     and caught up: the leader records the promotion in the registry
//     (CmdPromoteNode, authored by its node, judged and audited; the
//     registry refuses a second within the interval, so nothing flaps);
//   - a member the rules call a voter is promoted once it is caught up;
//   - a voter the rules call a standby is demoted;
//
// each only when the voters after it keep a quorum in contact. log hears
// of every change.
func (n *Node) ManageVoters(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(n.cfg.HeartbeatTimeout)
	defer t.Stop()
	var leaderSince time.Time
	warned := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.IsLeader() {
			leaderSince = time.Time{}
			continue
		}
		if leaderSince.IsZero() {
			leaderSince = time.Now()
		}
		if n.Registry().VoterRules() == nil {
			continue // none set: join tokens alone decide
		}
		// Judge by the rules as of every entry committed before the term.
		if err := n.caughtUpAsLeader(ctx); err != nil {
			continue
		}
		n.replaceLost(ctx, n.Registry().VoterRules(), leaderSince, log, warned)
		n.reconcileVoters(n.Registry().VoterRules(), log, warned)
	}
}

// replaceLost promotes a standby in place of a voter of the rules that has
// been out of contact for their interval; one per interval at most.
func (n *Node) replaceLost(ctx context.Context, rules *registry.VoterRules, leaderSince time.Time, log *slog.Logger, warned map[string]bool) {
	after := time.Duration(rules.PromoteAfterSeconds) * time.Second
	now := time.Now()
	if len(rules.Standby) == 0 || rules.LastPromotion != 0 && now.Unix()-rules.LastPromotion < int64(rules.PromoteAfterSeconds) {
		return
	}
	cf, _, err := n.configuration()
	if err != nil {
		return
	}
	for _, lost := range rules.Voters {
		s, ok := serverOf(cf, lost)
		if !ok || s.Suffrage != hraft.Voter || lost == n.cfg.ID {
			continue
		}
		last := n.commits.contacts.get(s.ID).at
		if last.Before(leaderSince) {
			last = leaderSince // a new leader counts from its election
		}
		if now.Sub(last) < after {
			continue
		}
		var why []string
		for _, standby := range rules.Standby {
			err := n.CheckPromotion(standby, lost)
			if err != nil {
				why = append(why, err.Error())
				continue
			}
			p := registry.Promotion{Node: standby, Replaces: lost, Now: now.Unix()}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = n.propose(pctx, n.Self(), registry.MustEncode(registry.CmdPromoteNode, p))
			cancel()
			if err != nil {
				log.Warn("recording the promotion of a standby in place of a lost voter", "promoted", standby, "replaces", lost, "err", err)
				return
			}
			n.voterCounts.automatic.Add(1)
			log.Warn("a voter is out of contact: promoting a standby in its place", "lost", lost,
				"out_of_contact_ms", now.Sub(last).Milliseconds(), "promoted", standby)
			return
		}
		if key := "nostandby\x00" + lost; !warned[key] {
			warned[key] = true
			log.Warn("a voter is out of contact and no standby can replace it", "lost", lost, "reasons", why)
		}
	}
}

// reconcileVoters brings the Raft configuration to the rules: their
// voters that are non-voters promoted, their standby that vote demoted.
func (n *Node) reconcileVoters(rules *registry.VoterRules, log *slog.Logger, warned map[string]bool) {
	cf, _, err := n.configuration()
	if err != nil {
		return
	}
	for _, id := range rules.Voters {
		if s, ok := serverOf(cf, id); !ok || s.Suffrage == hraft.Voter {
			continue
		}
		if err := n.Promote(id); err != nil {
			if key := "promote\x00" + id + "\x00" + err.Error(); !warned[key] && !errors.Is(err, ErrNotCaughtUp) {
				warned[key] = true
				log.Warn("the rules make a node a voter; not yet", "node", id, "err", err)
			}
			continue
		}
		log.Info("promoted a non-voter to voter, as the voter rules say", "promoted", id)
	}
	for _, id := range rules.Standby {
		if s, ok := serverOf(cf, id); !ok || s.Suffrage != hraft.Voter {
			continue
		}
		if err := n.Demote(id); err != nil {
			if key := "demote\x00" + id + "\x00" + err.Error(); !warned[key] {
				warned[key] = true
				log.Warn("the rules make a voter a standby; not yet", "node", id, "err", err)
			}
			continue
		}
		log.Info("demoted a voter to non-voter, as the voter rules say", "demoted", id)
	}
}
