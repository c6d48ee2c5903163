package raft

import (
	"context"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/testca"
)

func TestMutualTLSReplicatesAndShutsOutStrangers(t *testing.T) {
	ca := testca.New(t)
	c := startCluster(t, 2, func(cfg *Config) { cfg.TLS = ca.NodeTLS(t, cfg.ID, ca.Pool) })
	leader := c.waitLeader()
	if _, err := leader.Apply(context.Background(), Presented{}, scope("over-tls")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		waitFor(t, n.ID()+" to apply over TLS", func() bool { return n.Registry().Scope("over-tls") != nil })
	}

	// A node whose certificate another CA signed is added to the
	// configuration, but the members refuse its connections: it never
	// receives the log, and the cluster (still a quorum) keeps committing.
	other := testca.New(t)
	cfg := testConfig(t, "stranger", t.TempDir())
	cfg.TLS = other.NodeTLS(t, "stranger", other.Pool)
	stranger, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	// Adding a third voter that cannot be reached makes the quorum 2 of 3,
	// which the two real members still form.
	if err := leader.AddVoter("stranger", stranger.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Apply(context.Background(), Presented{}, scope("after-stranger")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if stranger.Registry().Scope("over-tls") != nil || stranger.Registry().Scope("after-stranger") != nil {
		t.Fatal("a node with a certificate from another CA received the log")
	}
}
