package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/mcfed/mcfed/registry"
)

// Config is what a node needs to take part in Raft.
type Config struct {
	ID      string
	DataDir string
	// Bind is the address the Raft listener binds; Advertise is the address
	// peers dial (Bind when empty, which must then not be a wildcard).
	Bind      string
	Advertise string
	// TLS, when set, makes the transport mutual TLS: it must carry the
	// node's certificate, and the federation's CA as both RootCAs and
	// ClientCAs. Peers must then also present the certificate bound to a
	// member (peers.go).
	TLS *tls.Config
	// Bootstrap makes this node the first server of a new cluster when its
	// data directory holds no Raft state yet.
	Bootstrap bool

	// Timing and log compaction; zero values take the defaults below.
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// ApplyTimeout bounds how long Apply waits for the log to take a command.
	ApplyTimeout time.Duration
	// Client calls the other members' admin APIs: to forward writes and
	// joins to the leader, to ask it for a read index (see forward.go).
	// Nil: a client with a 30 s timeout, over plain HTTP.
	Client *http.Client
	// Authenticator turns the credential a write was made with into its
	// author, on the leader (author.go), and authenticates members on the
	// internal endpoints. Nil: commands go in without an author, and no
	// member is accepted on the internal endpoints (Raft alone, as in this
	// package's tests).
	Authenticator Authenticator
	// ObserveWrite, when set, sees every Apply: when it started and how it
	// ended (the node's write latency metrics).
	ObserveWrite func(start time.Time, err error)
	// Logger receives Raft's own log, in the node's schema (logger.go);
	// nil: discarded.
	Logger *slog.Logger
}

func (c *Config) withDefaults() {
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
}

// Node is one Raft server holding a replica of the registry.
type Node struct {
	cfg       Config
	raft      *hraft.Raft
	fsm       *fsm
	transport hraft.Transport
	// peers holds Raft peers to the certificates bound to members (with
	// TLS).
	peers   *peerTrust
	store   *raftboltdb.BoltStore
	closers []io.Closer
	// secret is the secret of the node's own credential, which
	// authenticates it to the other members' internal endpoints and
	// authors its own writes (author.go); empty until the node is given it.
	secret atomic.Pointer[string]
	// commits and caughtUp are for readiness (status.go).
	commits  *commitWatch
	caughtUp atomic.Bool
	// catchTarget is the index the replica must apply to be caught up,
	// fixed when first known (status.go).
	catchTarget atomic.Uint64
	// barrierTerm is the last term in which this node, as leader, saw its
	// replica apply everything committed before (caughtUpAsLeader).
	barrierTerm atomic.Uint64
	// voterCounts count the promotions and demotions made here (voters.go).
	voterCounts voterCounters
}

// ErrNotLeader is returned by writes on a node that is not the leader;
// NotLeaderError says which node is.
var ErrNotLeader = errors.New("not the raft leader")

// NotLeaderError carries the leader's id and raft address, when known, so
// the caller can forward the write.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the raft leader, and no leader is known"
	}
	return "not the raft leader; the leader is " + e.LeaderID
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// Open starts a Raft server with its state in cfg.DataDir: the log and
// stable store in raft.db, snapshots under snapshots/. A node reopened on
// the same directory restores its last snapshot, replays its log and takes
// its place in the cluster again.
func Open(cfg Config) (*Node, error) {
	cfg.withDefaults()
	if cfg.ID == "" {
		return nil, errors.New("raft: node id is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft data dir: %w", err)
	}
	// MkdirAll leaves an existing directory's mode as it was.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft data dir: %w", err)
	}
	logger := newSlogAdapter(cfg.Logger, "raft")
	n := &Node{cfg: cfg, fsm: newFSM(logger.Named("fsm"))}
	ok := false
	defer func() {
		if !ok {
			n.closeAll()
		}
	}()

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raft log store: %w", err)
	}
	n.store = store
	n.closers = append(n.closers, store)
	fileSnaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, logger)
	if err != nil {
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}
	snaps := privateSnapshots{fileSnaps, filepath.Join(cfg.DataDir, "snapshots")}
	if err := snaps.restrict(); err != nil {
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}

	if n.peers, err = newPeerTrust(n, logger.Named("peers")); err != nil {
		return nil, err
	}
	if err := n.openTransport(logger); err != nil {
		return nil, err
	}

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.ID)
	rc.Logger = logger
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NoLegacyTelemetry = true

	existing, err := hraft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("raft state: %w", err)
	}
	if cfg.TLS != nil {
		if err := n.peers.upgrade(existing); err != nil {
			return nil, fmt.Errorf("raft peers: %w", err)
		}
	}
	r, err := hraft.NewRaft(rc, n.fsm, store, store, snaps, n.transport)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	close(n.peers.started)
	if n.peers.upgrading.Load() {
		stop := make(stopper)
		n.closers = append(n.closers, stop)
		go n.peers.finishUpgrade(stop)
	}
	if cfg.Bootstrap && !existing {
		f := r.BootstrapCluster(hraft.Configuration{Servers: []hraft.Server{{
			ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: hraft.Voter,
		}}})
		if err := f.Error(); err != nil && !errors.Is(err, hraft.ErrCantBootstrap) {
			r.Shutdown().Error() // wait: the deferred closeAll closes the stores its goroutines use
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}
	ok = true
	return n, nil
}

func (n *Node) openTransport(logger hclog.Logger) error {
	var advertise net.Addr
	if n.cfg.Advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", n.cfg.Advertise)
		if err != nil {
			return fmt.Errorf("raft advertise address: %w", err)
		}
		advertise = a
	}
	if n.cfg.TLS == nil {
		t, err := hraft.NewTCPTransportWithLogger(n.cfg.Bind, advertise, 5, 10*time.Second, logger)
		if err != nil {
			return fmt.Errorf("raft transport on %s: %w", n.cfg.Bind, err)
		}
		n.commits = watchCommits(t)
		n.transport = n.commits
		n.closers = append(n.closers, n.commits)
		return nil
	}
	sl, err := newTLSStreamLayer(n.cfg.Bind, advertise, n.cfg.TLS, n.peers)
	if err != nil {
		return err
	}
	n.commits = watchCommits(hraft.NewNetworkTransportWithLogger(sl, 5, 10*time.Second, logger))
	n.transport = n.commits
	n.closers = append(n.closers, n.commits)
	return nil
}

func (n *Node) closeAll() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i].Close()
	}
	n.closers = nil
}

// Close stops the Raft server and releases its files and listener. The data
// directory keeps everything needed to reopen it.
func (n *Node) Close() error {
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
	}
	n.closeAll()
	return err
}

// ID is the node's Raft server id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the address peers dial to reach this node's Raft server.
func (n *Node) Addr() string { return string(n.transport.LocalAddr()) }

// Registry is the local replica. It is swapped whole when a snapshot is
// restored, so call Registry for each read rather than keeping it.
func (n *Node) Registry() *registry.Registry { return n.fsm.reg.Load() }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the leader's id and raft address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// applyLocal commits an encoded registry command through this node's own
// Raft server and returns its log index, once the local registry has run
// it (for a try of a write committed before, that write's index: see
// writeid.go). A registry refusal comes back as *registry.Error; on a follower the
// error is a *NotLeaderError and nothing is written. Apply (forward.go) is
// the write path; only the leader's own work (a forwarded write, a join's
// admission) calls this directly.
func (n *Node) applyLocal(ctx context.Context, cmd []byte) (uint64, error) {
	if !n.IsLeader() {
		return 0, n.notLeader()
	}
	// Never commit what this build cannot read: every replica of it, this
	// one included, would halt on it (see fsm).
	if err := n.Registry().Interpretable(cmd); err != nil {
		return 0, err
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := n.raft.Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
			return 0, n.notLeader()
		}
		return 0, fmt.Errorf("raft apply: %w", err)
	}
	switch res := f.Response().(type) {
	case repeated: // a try of a write committed before (writeid.go)
		return res.index, res.err
	case error:
		return f.Index(), res
	}
	return f.Index(), nil
}

// caughtUpAsLeader returns once this leader's replica holds every entry
// committed before its term. A node elected a moment ago may still be
// applying its predecessor's log, and the leader authenticates a write and
// dry-runs it against its replica: judged against a replica that misses a
// credential, a federation admin's write was refused as "holds no role"
// (seen under load, a join token asked right after an election). A Raft
// barrier does it, once per term.
func (n *Node) caughtUpAsLeader(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() == term {
		return nil
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
			return n.notLeader()
		}
		return fmt.Errorf("raft barrier: %w", err)
	}
	n.barrierTerm.Store(term)
	return nil
}

func (n *Node) notLeader() error {
	id, addr := n.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// AddVoter makes a server a voting member, or changes its address. It must
// run on the leader. Adding a server already present with the same address
// changes nothing.
func (n *Node) AddVoter(id, addr string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("raft configuration: %w", err)
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == id && string(s.Address) == addr {
			return nil
		}
		if string(s.ID) == id || string(s.Address) == addr {
			if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
				return fmt.Errorf("remove %s before re-adding it: %w", s.ID, err)
			}
		}
	}
	if err := n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 0).Error(); err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	return nil
}

// RemoveServer removes a server from the cluster. It must run on the leader.
func (n *Node) RemoveServer(id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	if err := n.raft.RemoveServer(hraft.ServerID(id), 0, 0).Error(); err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	return nil
}

// LeadershipTransfer asks another voter to take over leadership, for a
// leader that is about to leave the cluster. It must run on the leader.
func (n *Node) LeadershipTransfer() error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("leadership transfer: %w", err)
	}
	return nil
}

// LeadershipTransferTo hands the leadership to the voter id, for an
// operator who wants a given node to lead (one on its own premises, say).
// It must run on the leader.
func (n *Node) LeadershipTransferTo(id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	for _, s := range n.peers.servers() {
		if string(s.ID) == id {
			if err := n.raft.LeadershipTransferToServer(s.ID, s.Address).Error(); err != nil {
				return fmt.Errorf("leadership transfer to %s: %w", id, err)
			}
			return nil
		}
	}
	return fmt.Errorf("leadership transfer: %s is not a server of the configuration", id)
}

// VerifyLeader confirms with a quorum that this node is still the leader;
// with it the leader's replica serves a linearizable read.
func (n *Node) VerifyLeader() error {
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return n.notLeader()
	}
	return nil
}

// CommitIndex is the highest log index this node knows to be committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// WaitApplied blocks until the local replica has applied index, for a
// consistent read on a follower: the leader tells the index (ReadIndex), the
// follower waits for it.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	wait := func(done func() bool) error {
		for !done() {
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for index %d (applied %d): %w", index, n.Registry().AppliedIndex(), ctx.Err())
			case <-t.C:
			}
		}
		return nil
	}
	// hashicorp/raft counts an entry applied when it hands it to the FSM,
	// before the FSM has run it; and entries that are not commands (an
	// election's no-op, a configuration change) never reach the registry.
	// So wait for raft, then for the registry to have run the last command
	// at or before index.
	if err := wait(func() bool { return n.raft.AppliedIndex() >= index }); err != nil {
		return err
	}
	last := n.lastCommand(index)
	return wait(func() bool { return n.Registry().AppliedIndex() >= last })
}

// lastCommand returns the index of the last command entry at or before
// index that the registry may not have run yet (0 when it has run them
// all). It reads back through the log from index, usually one entry.
func (n *Node) lastCommand(index uint64) uint64 {
	for i := index; i > n.Registry().AppliedIndex(); i-- {
		var l hraft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			// Compacted into a snapshot the registry was restored from, or
			// unreadable: wait for i itself, the safe side.
			return i
		}
		if l.Type == hraft.LogCommand {
			return i
		}
	}
	return 0
}

// Snapshot forces a snapshot and log compaction now. A halted replica
// refuses (ErrHaltedSnapshot): see fsm.Snapshot.
func (n *Node) Snapshot() error {
	if h := n.fsm.halted(); h != nil {
		return fmt.Errorf("snapshot: %w (%s)", ErrHaltedSnapshot, h)
	}
	if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, hraft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// privateSnapshots is raft's file snapshot store with the snapshots
// readable by the node's user only: they hold the whole registry. The store
// makes its directories 0755 and its files 0644; restrict narrows them
// after each snapshot is complete, and the snapshots directory itself is
// 0700, so nothing in it is reachable by others while it is written.
type privateSnapshots struct {
	*hraft.FileSnapshotStore
	dir string
}

func (s privateSnapshots) Create(version hraft.SnapshotVersion, index, term uint64, configuration hraft.Configuration,
	configurationIndex uint64, trans hraft.Transport) (hraft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return privateSink{sink, s}, nil
}

// restrict makes the snapshots directory and everything in it private.
func (s privateSnapshots) restrict() error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			mode := fs.FileMode(0o600)
			if d.IsDir() {
				mode = 0o700
			}
			err = os.Chmod(path, mode)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a snapshot the store reaped, or renamed into place, meanwhile
		}
		return err
	})
}

type privateSink struct {
	hraft.SnapshotSink
	store privateSnapshots
}

func (s privateSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	return s.store.restrict()
}
