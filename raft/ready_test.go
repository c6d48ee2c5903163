package raft

import (
	"fmt"
	"testing"
	"time"
)

// A follower restarted with a long log since its last snapshot, and behind
// the writes made while it was down, is not ready until its registry holds
// everything the leader had committed when it came back: it never answers
// from the state it had on disk, nor from half of the backlog.
func TestRestartedFollowerIsNotReadyUntilCaughtUp(t *testing.T) {
	// The default snapshot threshold is far above what the test writes: the
	// follower's whole history is log, replayed after the restart.
	c := startCluster(t, 3, nil)
	leader := c.waitLeader()
	var i int
	for j, n := range c.nodes {
		if n != leader {
			i = j
			break
		}
	}
	f := c.nodes[i]
	for k := range 300 {
		c.apply(scope(fmt.Sprintf("a%03d", k)))
	}
	waitFor(t, "the follower to apply the first writes", func() bool { return f.Registry().Scope("a299") != nil })
	id, dir, addr := f.ID(), c.dirs[i], f.Addr()
	f.Close()
	c.nodes[i] = nil

	for k := range 300 {
		c.apply(scope(fmt.Sprintf("b%03d", k)))
	}
	target := c.waitLeader().CommitIndex()

	cfg := testConfig(t, id, dir)
	cfg.Bind = addr // the leader keeps its address: it reconnects on its own
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[i] = f
	notReady := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, _ := f.Ready(time.Minute); ok || f.CaughtUp() {
			// Checked after it said yes: the registry only grows, so what
			// it lacks now it lacked then.
			if f.Registry().Scope("b299") == nil || !f.hasApplied(target) {
				t.Fatalf("ready with the registry at index %d, before the leader's commit index %d at the restart",
					f.Registry().AppliedIndex(), target)
			}
			break
		}
		notReady++
		if time.Now().After(deadline) {
			_, reason := f.Ready(time.Minute)
			t.Fatalf("the restarted follower is not ready after 20 s: %s", reason)
		}
		time.Sleep(time.Millisecond)
	}
	if notReady == 0 {
		t.Fatal("the restarted follower was ready the moment it opened, before any leader contact")
	}
	waitFor(t, "the caught-up follower to be fresh", func() bool { return f.Status(time.Minute).Fresh })
}

// A node that has opened and heard from no leader is not ready, whatever
// its disk holds.
func TestNodeIsNotReadyBeforeLeaderContact(t *testing.T) {
	cfg := testConfig(t, "alone", t.TempDir())
	n, err := Open(cfg) // not bootstrapped: it waits to be added
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if ok, reason := n.Ready(time.Minute); ok || reason != "no leader is known" || n.CaughtUp() {
		t.Fatalf("a node with no leader is ready=%v (%q), caught up %v", ok, reason, n.CaughtUp())
	}
}
