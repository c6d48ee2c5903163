package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/registry"
)

// testConfig is a node on loopback with short timeouts, so elections in
// tests take a fraction of a second.
func testConfig(t *testing.T, id, dir string) Config {
	return Config{
		ID: id, DataDir: dir, Bind: "127.0.0.1:0",
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
	}
}

type testCluster struct {
	t     *testing.T
	nodes []*Node
	dirs  []string
}

// startCluster starts n real nodes over TCP on loopback: the first
// bootstraps, the others are added as voters by the leader.
func startCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	c := &testCluster{t: t}
	for i := range n {
		dir := t.TempDir()
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), dir)
		cfg.Bootstrap = i == 0
		if tweak != nil {
			tweak(&cfg)
		}
		node, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
		c.dirs = append(c.dirs, dir)
		if i == 0 {
			c.waitLeader()
		} else {
			c.onLeader("add "+node.ID(), func(l *Node) error { return l.AddVoter(node.ID(), node.Addr()) })
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	return c
}

func (c *testCluster) leader() *Node {
	for _, n := range c.nodes {
		if n != nil && n.IsLeader() {
			return n
		}
	}
	return nil
}

func (c *testCluster) waitLeader() *Node {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader elected within 10 s")
	return nil
}

// onLeader runs f on the leader, and again on the next one when leadership
// moves under it (an election on a busy machine), until f succeeds; it fails
// the test on any other error or after 10 s.
func (c *testCluster) onLeader(what string, f func(*Node) error) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f(c.waitLeader())
		if err == nil {
			return
		}
		lost := errors.Is(err, ErrNotLeader) || errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost)
		if !lost || time.Now().After(deadline) {
			c.t.Fatalf("%s: %v", what, err)
		}
	}
}

// apply writes cmd through the leader, whichever node that is by then, and
// returns its log index. Retrying after a lost leadership may write it
// twice: the tests use it for idempotent puts.
func (c *testCluster) apply(cmd []byte) uint64 {
	c.t.Helper()
	var idx uint64
	c.onLeader("apply", func(l *Node) error {
		var err error
		idx, err = l.Apply(context.Background(), Presented{}, cmd)
		return err
	})
	return idx
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func scope(name string) []byte {
	return registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: name})
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	leader := c.waitLeader()
	if _, err := leader.Apply(ctx, Presented{}, scope("first")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		waitFor(t, n.ID()+" to apply the write", func() bool { return n.Registry().Scope("first") != nil })
	}

	// A follower refuses to write and says who leads.
	for _, n := range c.nodes {
		if n == leader {
			continue
		}
		_, err := n.Apply(ctx, Presented{}, scope("x"))
		var nl *NotLeaderError
		if !errors.As(err, &nl) || nl.LeaderID != leader.ID() {
			t.Fatalf("a follower's Apply gave %v, want NotLeaderError naming %s", err, leader.ID())
		}
		break
	}

	// A refusal comes back as the registry's error, with nothing applied.
	_, err := leader.Apply(ctx, Presented{}, registry.MustEncode(registry.CmdDeleteScope, registry.Key{Key: "missing"}))
	if registry.CodeOf(err) != registry.CodeNotFound {
		t.Fatalf("deleting a missing scope gave %v", err)
	}

	// The leader goes away: the other two elect a new one and keep writing.
	old := leader
	for i, n := range c.nodes {
		if n == old {
			n.Close()
			c.nodes[i] = nil
		}
	}
	leader = c.waitLeader()
	if leader == old {
		t.Fatal("the stopped node is still leader")
	}
	if _, err := leader.Apply(ctx, Presented{}, scope("second")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if n != nil {
			waitFor(t, n.ID()+" to apply the write after the election", func() bool { return n.Registry().Scope("second") != nil })
		}
	}
	st := leader.Status(time.Second)
	if st.State != "Leader" || !st.Fresh || len(st.Members) != 3 {
		t.Fatalf("leader status %+v", st)
	}
}

func TestRestartedNodeCatchesUpFromSnapshot(t *testing.T) {
	// Compact the log aggressively, so a node that was away must be sent a
	// snapshot rather than the entries it missed.
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 20
		cfg.TrailingLogs = 5
		cfg.SnapshotInterval = 50 * time.Millisecond
	})
	leader := c.waitLeader()

	var lagger int
	for i, n := range c.nodes {
		if n != leader {
			lagger = i
			break
		}
	}
	id, dir := c.nodes[lagger].ID(), c.dirs[lagger]
	lastSeen := c.nodes[lagger].raft.LastIndex()
	c.nodes[lagger].Close()
	c.nodes[lagger] = nil

	// Leadership may move between the two remaining nodes on a busy
	// machine: every write and change goes to whichever leads by then.
	for i := range 200 {
		c.apply(scope(fmt.Sprintf("s%03d", i)))
	}
	// Both may lead when the node comes back: both must have compacted
	// past what it holds.
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		if err := n.Snapshot(); err != nil {
			t.Fatal(err)
		}
		first, err := n.store.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		if first <= lastSeen {
			t.Fatalf("%s still holds log index %d the stopped node lacks; the test would not exercise a snapshot", n.ID(), lastSeen+1)
		}
	}

	// The node comes back on its data directory, at a new port: it keeps its
	// id, and the leader is told its new address.
	cfg := testConfig(t, id, dir)
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[lagger] = n
	c.onLeader("re-add "+id, func(l *Node) error { return l.AddVoter(id, n.Addr()) })
	waitFor(t, "the restarted node to catch up", func() bool { return n.Registry().Scope("s199") != nil })
	if got := len(n.Registry().Scopes("", 1000).Items); got != 200 {
		t.Fatalf("restarted node holds %d scopes, want 200", got)
	}

	// And a node restarted on the same address replays its own state
	// without help: stop it, write nothing, reopen.
	addr := n.Addr()
	n.Close()
	cfg.Bind = addr
	n, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[lagger] = n
	waitFor(t, "the reopened node to restore its state", func() bool { return n.Registry().Scope("s199") != nil })
}
