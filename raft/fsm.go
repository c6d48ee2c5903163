// Package raft replicates the registry with hashicorp/raft: a thin FSM that
// feeds the log to registry.Apply, snapshots and restores of the whole
// registry, stores on disk in the node's data directory, a TCP transport
// (mutual TLS when certificates are given), bootstrap, join and removal of
// servers.
//
// Writes must reach the leader: Node.Apply returns ErrNotLeader (with the
// leader's id) on a follower, and the caller forwards the command; reads go
// to the local replica, Node.Registry.
package raft

import (
	"fmt"
	"io"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/registry"
)

// fsm applies the log to a registry. Restore builds a new registry and swaps
// it in, so readers holding the old one finish on a consistent state.
type fsm struct {
	reg atomic.Pointer[registry.Registry]
}

func newFSM() *fsm {
	f := &fsm{}
	f.reg.Store(registry.New())
	return f
}

// Apply returns the registry's refusal (an *registry.Error) or nil; Raft
// hands it to whoever called Node.Apply on the leader.
func (f *fsm) Apply(l *hraft.Log) any {
	if l.Type != hraft.LogCommand {
		return nil
	}
	return f.reg.Load().Apply(l.Index, l.Data)
}

func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	return &fsmSnapshot{snap: f.reg.Load().Snapshot()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r, err := registry.Restore(rc)
	if err != nil {
		return fmt.Errorf("restore registry: %w", err)
	}
	f.reg.Store(r)
	return nil
}

type fsmSnapshot struct {
	snap *registry.Snapshot
}

func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist registry snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
