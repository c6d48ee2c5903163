package e2e

import (
	"slices"
	"testing"
)

// TestLeaderKilledUnderLoad: the Raft leader's process dies (SIGKILL)
// while SPs hammer discovery on the other two nodes. Discovery never
// fails there (it reads the local replica), the survivors elect a new
// leader, and a write sent to a follower's admin API succeeds through it.
func TestLeaderKilledUnderLoad(t *testing.T) {
	ops := []demoOperator{ukDemo, deDemo, frDemo}
	f := startFederation(t, ops...)
	s := f.registerSP()
	old := f.leader()
	survivors := slices.DeleteFunc(f.live(), func(n *node) bool { return n == old })

	load := startLoad(t, s, survivors, ops...)
	load.waitServed(t, 100)
	atKill := load.ok.Load()
	old.proc.kill()
	lead := f.leader()
	t.Logf("leader %s killed; %s leads now; %d discovery answers meanwhile", old.id, lead.id, load.ok.Load()-atKill)
	// Traffic went on through the election and goes on after it.
	load.waitServed(t, load.ok.Load()+100)

	// One attempt, through a follower: the write is forwarded to the new
	// leader, committed by the two survivors, and applied on both.
	follower := survivors[0]
	if follower == lead {
		follower = survivors[1]
	}
	op := follower.op
	if err := follower.admin("PUT", "/v1/ranges/"+op.Spare, map[string]string{"operator": op.ID}, nil); err != nil {
		t.Fatalf("a write after the election failed: %v", err)
	}
	f.waitResolves(op.SpareNumber, op.ID)
	for _, n := range survivors {
		s.mustDiscoverNumber(t, n, op.SpareNumber, op)
	}
	load.check(t)
}
