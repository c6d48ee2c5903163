package raft

import (
	"fmt"
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
	// bound the caller gave: a leader is known and was heard from recently.
	Fresh bool `json:"fresh"`
	// Reason says why the node is not fresh.
	Reason string `json:"reason,omitempty"`
	// Halted is the entry the replica could not interpret, when it stopped
	// applying on one.
	Halted *Halt `json:"halted,omitempty"`
}

// Member is one server of the Raft configuration.
type Member struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
	Current bool   `json:"current"` // this node
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
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			st.Members = append(st.Members, Member{
				ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == hraft.Voter,
				Leader: string(s.ID) == leaderID, Current: string(s.ID) == n.cfg.ID,
			})
		}
	}
	switch {
	case st.Halted != nil:
		st.Reason = st.Halted.String()
	case n.raft.State() == hraft.Leader:
		st.Fresh = true
	case leaderID == "":
		st.Reason = "no leader is known"
	default:
		st.SinceLeaderContact = time.Since(n.raft.LastContact())
		if st.SinceLeaderContact > maxStaleness {
			st.Reason = fmt.Sprintf("last heard from the leader %s ago, more than %s", st.SinceLeaderContact.Round(time.Millisecond), maxStaleness)
		} else {
			st.Fresh = true
		}
	}
	return st
}
