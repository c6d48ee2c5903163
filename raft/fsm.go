package raft

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/registry"
)

// fsm applies the log to a registry. Restore builds a new registry and swaps
// it in, so readers holding the old one finish on a consistent state.
//
// A command the registry cannot interpret (a type or version this build
// does not know, a body that does not decode) halts the fsm: it applies
// nothing from that entry on, so the replica stays a true, if old, state of
// the registry rather than one that skipped a command the others applied.
// The node reports itself not ready until it runs a build that can read the
// entry (consul's FSM panics instead; a halt keeps the node up to say why).
type fsm struct {
	reg    atomic.Pointer[registry.Registry]
	halt   atomic.Pointer[Halt]
	logger hclog.Logger
}

// Halt is the entry that stopped a replica.
type Halt struct {
	Index  uint64               `json:"index"`
	Type   registry.CommandType `json:"type"`
	Reason string               `json:"reason"`
}

func (h *Halt) String() string {
	return fmt.Sprintf("halted at index %d: %s", h.Index, h.Reason)
}

// ErrHalted is the answer to every command after the one that halted the
// replica: none of them is applied.
var ErrHalted = errors.New("the replica has halted on a command it cannot interpret")

// ErrHaltedSnapshot refuses a snapshot while halted.
var ErrHaltedSnapshot = errors.New("no snapshot while the replica is halted")

func newFSM(logger hclog.Logger) *fsm {
	f := &fsm{logger: logger}
	f.reg.Store(registry.New())
	return f
}

// Apply returns the registry's refusal (an *registry.Error) or nil; Raft
// hands it to whoever called Node.Apply on the leader. A repeat of a write
// the registry applied before gets a repeated. On a command it
// cannot interpret it halts and returns the *registry.UninterpretableError;
// after that, every command gets ErrHalted and the registry is left alone.
func (f *fsm) Apply(l *hraft.Log) any {
	if l.Type != hraft.LogCommand {
		return nil
	}
	if h := f.halt.Load(); h != nil {
		return fmt.Errorf("index %d not applied: %w (%s)", l.Index, ErrHalted, h)
	}
	at, err := f.reg.Load().ApplyWrite(l.Index, l.Data)
	if at != l.Index {
		return repeated{index: at, err: err}
	}
	var ue *registry.UninterpretableError
	if errors.As(err, &ue) {
		h := &Halt{Index: l.Index, Type: ue.Type, Reason: ue.Error()}
		f.halt.Store(h)
		f.logger.Error("REPLICA HALTED: this build cannot interpret a committed command; it applies nothing more "+
			"and reports not ready until it runs a build that can (upgrade it)",
			"index", l.Index, "type", int(ue.Type), "version", int(ue.Version), "reason", ue.Reason)
	}
	return err
}

// repeated answers a try of a write applied before, at index, with that
// write's outcome (nil or its *registry.Error).
type repeated struct {
	index uint64
	err   error
}

// halted returns the entry that halted the replica, or nil.
func (f *fsm) halted() *Halt { return f.halt.Load() }

// Snapshot refuses while halted. Raft stamps a snapshot with the last
// index it handed the fsm, including the entries the halted registry did
// not apply, and then compacts the log up to it: a snapshot now would
// record a registry that lacks those commands as if it held them, and
// delete the very entries a newer build must apply after the upgrade.
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	if h := f.halt.Load(); h != nil {
		return nil, fmt.Errorf("%w (%s)", ErrHaltedSnapshot, h)
	}
	return &fsmSnapshot{snap: f.reg.Load().Snapshot()}, nil
}

// Restore replaces the whole registry, and with it any halt: the snapshot
// is a state the cluster reached, and Raft applies the entries after it
// again (halting again if this build still cannot read one).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r, err := registry.Restore(rc)
	if err != nil {
		return fmt.Errorf("restore registry: %w", err)
	}
	f.reg.Store(r)
	f.halt.Store(nil)
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
