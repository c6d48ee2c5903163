package raft

import (
	"fmt"
	"slices"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Status is what a node knows of the cluster and of its own freshness.
type Status struct {
	ID           string   `json:"id"`
	State        string   `json:"state"` // Leader, Follower, Candidate, Shutdown
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	Members      []Member `json:"members"`
	AppliedIndex uint64   `json:"applied_index"`
	CommitIndex  uint64   `json:"commit_index"`
	LastIndex    uint64   `json:"last_index"`
	// SinceLeaderContact is how long ago a follower last heard from the
	// leader; zero on the leader itself.
	SinceLeaderContact time.Duration `json:"since_leader_contact_ns"`
	// Fresh says whether the replica can be trusted for reads within the
	// bound the caller gave (see Node.Ready).
	Fresh bool `json:"fresh"`
	// Reason says why the node is not fresh.
	Reason string `json:"reason,omitempty"`
	// Halted is the entry the replica could not interpret, when it stopped
	// applying on one.
	Halted *Halt `json:"halted,omitempty"`
}

// Member is one server of the Raft configuration.
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
	// Standby: a non-voter the federation's voter rules let the leader
	// promote in place of a lost voter (voters.go).
	Standby bool `json:"standby,omitempty"`
	Leader  bool `json:"leader"`
	Current bool `json:"current"` // this node
}

// Status reports the cluster as this node sees it; maxStaleness bounds how
// long a follower may go without hearing from the leader and still call its
// replica fresh.
func (n *Node) Status(maxStaleness time.Duration) Status {
	leaderID, leaderAddr := n.Leader()
	st := Status{
		ID: n.cfg.ID, State: n.raft.State().String(), LeaderID: leaderID, LeaderAddr: leaderAddr,
		AppliedIndex: n.raft.AppliedIndex(), CommitIndex: n.raft.CommitIndex(), LastIndex: n.raft.LastIndex(),
		Halted: n.fsm.halted(),
	}
	var standby []string
	if rules := n.Registry().VoterRules(); rules != nil {
		standby = rules.Standby
	}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			voter := s.Suffrage == hraft.Voter
			st.Members = append(st.Members, Member{
				ID: string(s.ID), Addr: string(s.Address), Voter: voter,
				Standby: !voter && slices.Contains(standby, string(s.ID)),
				Leader:  string(s.ID) == leaderID, Current: string(s.ID) == n.cfg.ID,
			})
		}
	}
	if n.raft.State() != hraft.Leader && leaderID != "" {
		st.SinceLeaderContact = time.Since(n.raft.LastContact())
	}
	st.Fresh, st.Reason = n.Ready(maxStaleness)
	return st
}

// Ready reports whether the local replica may answer reads, and why not:
//   - it has not halted on a command it cannot interpret;
//   - a leader is known and, on a follower, was heard from within
//     maxStaleness;
//   - it has caught up since the node opened (CaughtUp).
//
// It asks raft nothing that waits on raft's main loop, so it may be called
// on every request.
func (n *Node) Ready(maxStaleness time.Duration) (bool, string) {
	if h := n.fsm.halted(); h != nil {
		return false, h.String()
	}
	leaderID, _ := n.Leader()
	switch {
	case n.raft.State() == hraft.Leader:
	case leaderID == "":
		return false, "no leader is known"
	default:
		if since := time.Since(n.raft.LastContact()); since > maxStaleness {
			return false, fmt.Sprintf("last heard from the leader %s ago, more than %s", since.Round(time.Millisecond), maxStaleness)
		}
	}
	return n.catchUp()
}

// CaughtUp reports whether, since the node opened, the registry has once
// applied everything up to the leader's commit index as learned after the
// open, and has not halted since. Unlike Ready it does not ask for a
// leader now: a node that caught up keeps serving its replica through an
// election, as it always did; one that never did must not serve the state
// it had on disk (discovery answers 503 until then).
func (n *Node) CaughtUp() bool {
	ok, _ := n.catchUp()
	return ok
}

// catchUp is CaughtUp with the reason when not.
//
// On a follower the target is the commit index the leader sent in its first
// AppendEntries after the open (commitWatch; a heartbeat carries none, and
// raft's own CommitIndex on a follower is capped at the end of the log it
// holds, so it cannot tell how far behind the node is). On the leader it is
// its own commit index once that points at an entry of its own term: a new
// leader knows which entries are committed only after it commits one of its
// term (the no-op raft appends on election). Once reached it is not asked
// again: keeping pace afterwards is what the staleness bound is for, and a
// node under steady writes is always a few entries behind the newest commit,
// which must not make it flap.
func (n *Node) catchUp() (bool, string) {
	if h := n.fsm.halted(); h != nil {
		return false, h.String()
	}
	if n.caughtUp.Load() {
		return true, ""
	}
	// The target is fixed the first time it is known: under steady writes
	// the newest commit index moves on before the registry has applied it,
	// so a target read anew at each check might never be reached.
	target := n.catchTarget.Load()
	if target == 0 {
		t, why := n.catchUpTarget(n.raft.State() == hraft.Leader)
		if t == 0 {
			return false, why
		}
		n.catchTarget.CompareAndSwap(0, t)
		target = n.catchTarget.Load()
	}
	if !n.hasApplied(target) {
		return false, fmt.Sprintf("catching up: the registry applied index %d, the leader's commit index is %d",
			n.Registry().AppliedIndex(), target)
	}
	n.caughtUp.Store(true)
	return true, ""
}

// catchUpTarget is the index the replica must reach before it is ready, or
// 0 and why it is not known yet.
func (n *Node) catchUpTarget(isLeader bool) (uint64, string) {
	if !isLeader {
		if c := n.commits.leaderCommit(); c > 0 {
			return c, ""
		}
		return 0, "waiting to learn the leader's commit index"
	}
	const notYet = "the leader has not yet committed an entry of its term"
	c := n.raft.CommitIndex()
	if c == 0 {
		return 0, notYet
	}
	var l hraft.Log
	if err := n.store.GetLog(c, &l); err != nil || l.Term != n.raft.CurrentTerm() {
		return 0, notYet
	}
	return c, ""
}

// hasApplied reports whether the registry has run every command up to
// index. Raft counts an entry applied when it hands it over, before the
// registry ran it, and entries that are not commands never reach the
// registry: so read back from index to the last command at or before it.
func (n *Node) hasApplied(index uint64) bool {
	// The registry ran a command at or past index: everything before it
	// too. (Raft may not have noted the batch applied yet: its own index
	// moves after it hands the batch over, and the registry can be first.)
	if n.Registry().AppliedIndex() >= index {
		return true
	}
	if n.raft.AppliedIndex() < index {
		return false
	}
	first, err := n.store.FirstIndex()
	if err != nil {
		return false
	}
	for i := index; i > n.Registry().AppliedIndex(); i-- {
		if i < first || first == 0 {
			// Compacted away: a snapshot this registry was taken from or
			// restored from holds it.
			return true
		}
		var l hraft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == hraft.LogCommand {
			return false
		}
	}
	return true
}
