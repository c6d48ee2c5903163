package raft

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// A replica that receives a command type it does not know (as an older
// build would from a newer leader) stops applying, says why it is not
// ready, and leaves its registry where it was: for that entry and every one
// after it. Every node here runs the same build, so all of them halt; the
// test watches a follower.
func TestReplicaHaltsOnACommandItCannotInterpret(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	leader := c.waitLeader()
	if _, err := leader.Apply(ctx, Presented{}, scope("before")); err != nil {
		t.Fatal(err)
	}
	var f *Node
	for _, n := range c.nodes {
		if n != leader {
			f = n
			break
		}
	}
	waitFor(t, "the follower to apply the first write", func() bool { return f.Registry().Scope("before") != nil })
	waitFor(t, "the follower to be ready", func() bool { ok, _ := f.Ready(time.Minute); return ok })
	appliedBefore := f.Registry().AppliedIndex()

	// Node.Apply does not commit what its own build cannot read.
	last := leader.raft.LastIndex()
	var ue *registry.UninterpretableError
	if _, err := leader.Apply(ctx, Presented{}, []byte{99, 1, '{', '}'}); !errors.As(err, &ue) || leader.raft.LastIndex() != last {
		t.Fatalf("Apply of an unknown command type gave %v and moved the log from %d to %d", err, last, leader.raft.LastIndex())
	}

	// Nor one of a type it knows whose body does not decode, as a member
	// might forward: it would halt every replica.
	for _, garbage := range [][]byte{
		{byte(registry.CmdPutScope), 1, '{', 'x'},
		{byte(registry.CmdPortNumbers), 1, 0xff},
		{byte(registry.CmdCreate), 1, byte(registry.CmdPutSP), 1, '['},
	} {
		if _, err := leader.Apply(ctx, Presented{}, garbage); !errors.As(err, &ue) || leader.raft.LastIndex() != last {
			t.Fatalf("Apply of an undecodable %v gave %v and moved the log from %d to %d", garbage, err, last, leader.raft.LastIndex())
		}
	}
	if st := f.Status(time.Minute); !st.Fresh || st.Halted != nil {
		t.Fatalf("a refused proposal halted the follower: %+v", st)
	}

	// Command type 99, version 1: what a newer build might write. It goes
	// straight into the log, as a newer leader would put it there.
	fut := leader.raft.Apply([]byte{99, 1, '{', '}'}, 10*time.Second)
	if err := fut.Error(); err != nil {
		t.Fatal(err)
	}
	bad := fut.Index()

	waitFor(t, "the follower to halt", func() bool { return f.Status(time.Minute).Halted != nil })
	st := f.Status(time.Minute)
	if st.Fresh || st.Halted.Index != bad || st.Halted.Type != 99 ||
		!strings.Contains(st.Reason, "halted at index") || !strings.Contains(st.Reason, "unknown command type 99") {
		t.Fatalf("a halted follower's status is %+v (halted %+v), want not fresh, halted at %d on type 99", st, st.Halted, bad)
	}
	if got := f.Registry().AppliedIndex(); got != appliedBefore {
		t.Fatalf("the halted registry's applied index is %d, want it left at %d", got, appliedBefore)
	}

	// A write after it is committed, and answered with ErrHalted on the
	// (equally halted) leader; the follower does not apply it either.
	idx, err := leader.Apply(ctx, Presented{}, scope("after"))
	if !errors.Is(err, ErrHalted) {
		t.Fatalf("a write after the halt gave %v, want ErrHalted", err)
	}
	waitFor(t, "raft to hand the follower the later write", func() bool { return f.raft.AppliedIndex() >= idx })
	if f.Registry().Scope("after") != nil || f.Registry().AppliedIndex() != appliedBefore {
		t.Fatalf("the halted follower applied a later write (applied index %d)", f.Registry().AppliedIndex())
	}
	if st := f.Status(time.Minute); st.Fresh || !strings.Contains(st.Reason, "halted at index") {
		t.Fatalf("status %+v after the halt", st)
	}
	// And it keeps the log: no snapshot while halted.
	if err := f.Snapshot(); !errors.Is(err, ErrHaltedSnapshot) {
		t.Fatalf("a snapshot while halted gave %v, want ErrHaltedSnapshot", err)
	}
}
