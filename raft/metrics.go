package raft

import (
	"math"
	"strconv"
	"time"

	hraft "github.com/hashicorp/raft"
)

// Metrics is one reading of a node's Raft state for monitoring. It is
// plain values, so the package stays free of any metrics library; the node
// turns a reading into Prometheus series when it is scraped.
type Metrics struct {
	// State is Leader, Follower, Candidate or Shutdown.
	State string
	// LeaderKnown says whether this node knows a leader (itself included).
	LeaderKnown bool
	Term        uint64
	// LastIndex is the last entry in the local log, CommitIndex the last
	// one known committed, AppliedIndex the last one the registry applied.
	LastIndex, CommitIndex, AppliedIndex uint64
	// FSMPending counts committed entries queued for the registry: a
	// follower that grows it cannot keep up.
	FSMPending uint64
	// LastSnapshotIndex and LastSnapshotTerm describe the newest snapshot;
	// the index moving is how snapshots show (hashicorp/raft counts none).
	LastSnapshotIndex, LastSnapshotTerm uint64
	// SinceLeaderContact is zero on the leader, +Inf seconds on a follower
	// that never heard from one, and otherwise the time since it did.
	SinceLeaderContact time.Duration
	// Servers in the configuration, and how many of them vote.
	Servers, Voters int
	// RefusedPeers counts the Raft connections refused since the node
	// started because the peer's certificate is not bound to a member
	// (with TLS; peers.go).
	RefusedPeers uint64
	// Promotions and Demotions count the changes of suffrage this node
	// made as leader; AutomaticPromotions those of Promotions recorded on
	// its own, in place of a lost voter (voters.go).
	Promotions, AutomaticPromotions, Demotions uint64
}

// neverContacted stands for a follower that has not heard from any leader.
const neverContacted = time.Duration(math.MaxInt64)

// Metrics reads the node's Raft state. It asks Raft for its configuration
// and its stats, so it suits a scrape, not a request path.
func (n *Node) Metrics() Metrics {
	state := n.raft.State()
	m := Metrics{
		State:        state.String(),
		Term:         n.raft.CurrentTerm(),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		RefusedPeers: n.peers.refused.Load(),
		Promotions:   n.voterCounts.promotions.Load(), AutomaticPromotions: n.voterCounts.automatic.Load(),
		Demotions: n.voterCounts.demotions.Load(),
	}
	if _, id := n.raft.LeaderWithID(); id != "" {
		m.LeaderKnown = true
	}
	// Stats is the only public way to read these; it formats them as
	// decimal strings.
	stats := n.raft.Stats()
	m.FSMPending = statUint(stats, "fsm_pending")
	m.LastSnapshotIndex = statUint(stats, "last_snapshot_index")
	m.LastSnapshotTerm = statUint(stats, "last_snapshot_term")
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			m.Servers++
			if s.Suffrage == hraft.Voter {
				m.Voters++
			}
		}
	}
	switch last := n.raft.LastContact(); {
	case state == hraft.Leader:
	case last.IsZero():
		m.SinceLeaderContact = neverContacted
	default:
		m.SinceLeaderContact = time.Since(last)
	}
	return m
}

// SinceLeaderContactSeconds is SinceLeaderContact for a gauge: +Inf when no
// leader was ever heard from, so an alert on "more than N seconds" fires.
func (m Metrics) SinceLeaderContactSeconds() float64 {
	if m.SinceLeaderContact == neverContacted {
		return math.Inf(1)
	}
	return m.SinceLeaderContact.Seconds()
}

func statUint(stats map[string]string, key string) uint64 {
	v, _ := strconv.ParseUint(stats[key], 10, 64)
	return v
}
