package raft

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/internal/testca"
	"github.com/mcfed/mcfed/registry"
)

// startTLSCluster starts n nodes over mutual TLS the way the federation
// joins them: the leader commits a node's credential, bound to its
// certificate, before it adds the node; the new node trusts the leader on
// the word of a member (here the leader's own Peers, which is what
// GET /v1/internal/members answers a joining node).
func startTLSCluster(t *testing.T, ca *testca.CA, n int) (*testCluster, map[string]*tls.Config) {
	c := &testCluster{t: t}
	certs := map[string]*tls.Config{}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		certs[id] = ca.NodeTLS(t, id, ca.Pool)
		addTLSNode(c, id, certs[id], true)
	}
	return c, certs
}

// addTLSNode starts node id with cert and has the leader admit it, as a
// voter or not; the first node bootstraps.
func addTLSNode(c *testCluster, id string, cert *tls.Config, voter bool) *Node {
	t := c.t
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, id, dir)
	cfg.Bootstrap, cfg.TLS = len(c.nodes) == 0, cert
	node, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, node)
	c.dirs = append(c.dirs, dir)
	if cfg.Bootstrap {
		c.waitLeader()
	}
	c.apply(nodeCredential(id, cert))
	if cfg.Bootstrap {
		return node
	}
	node.peers.setVouched(c.waitLeader().Peers())
	c.onLeader("add "+id, func(l *Node) error {
		if !voter {
			return l.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(node.Addr()), 0, 0).Error()
		}
		return l.AddVoter(id, node.Addr())
	})
	return node
}

func fingerprintOf(c *tls.Config) string {
	return registry.CertificateFingerprint(c.Certificates[0].Certificate[0])
}

func nodeCredential(id string, c *tls.Config) []byte {
	return registry.MustEncode(registry.CmdPutCredentials, registry.CredentialBatch{Credentials: []registry.Credential{{
		ID: registry.NodeCredentialID(id), Kind: registry.KindNode, Node: id,
		Verifier: registry.HashSecret("secret of " + id), Certificate: fingerprintOf(c),
	}}})
}

func TestMutualTLSReplicatesAndShutsOutStrangers(t *testing.T) {
	ca := testca.New(t)
	c, _ := startTLSCluster(t, ca, 2)
	// Through whichever node leads: a two-node cluster on a loaded
	// machine may hold an election now and then.
	c.apply(scope("over-tls"))
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
	c.onLeader("add the stranger", func(l *Node) error { return l.AddVoter("stranger", stranger.Addr()) })
	c.apply(scope("after-stranger"))
	time.Sleep(500 * time.Millisecond)
	if stranger.Registry().Scope("over-tls") != nil || stranger.Registry().Scope("after-stranger") != nil {
		t.Fatal("a node with a certificate from another CA received the log")
	}
}

// intruder speaks Raft's RPCs over TLS with a certificate of its own,
// checking nothing of the server: what a holder of a CA-signed certificate
// that is not a member's can do.
type intruder struct {
	net.Listener
	config *tls.Config
}

func (l intruder) Dial(a hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(a), l.config)
}

func (l intruder) Addr() net.Addr { return l.Listener.Addr() }

func newIntruder(t *testing.T, cert *tls.Config) *hraft.NetworkTransport {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := cert.Clone()
	c.InsecureSkipVerify = true
	tr := hraft.NewNetworkTransport(intruder{ln, c}, 1, 2*time.Second, io.Discard)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// attack sends target an AppendEntries and a RequestVote of a higher term,
// as the id the certificate names; the AppendEntries carries a command
// that continues target's log, so a member that took it would apply it.
func attack(t *testing.T, tr *hraft.NetworkTransport, as string, target *Node, injected string) (appendErr, voteErr error) {
	t.Helper()
	stats := target.raft.Stats()
	lastTerm, _ := strconv.ParseUint(stats["last_log_term"], 10, 64)
	last, term := target.raft.LastIndex(), target.raft.CurrentTerm()+10
	header := hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte(as), Addr: []byte(tr.LocalAddr())}
	var ar hraft.AppendEntriesResponse
	appendErr = tr.AppendEntries(hraft.ServerID(target.ID()), hraft.ServerAddress(target.Addr()), &hraft.AppendEntriesRequest{
		RPCHeader: header, Term: term, PrevLogEntry: last, PrevLogTerm: lastTerm, LeaderCommitIndex: last + 1,
		Entries: []*hraft.Log{{Index: last + 1, Term: term, Type: hraft.LogCommand, Data: scope(injected)}},
	}, &ar)
	var vr hraft.RequestVoteResponse
	voteErr = tr.RequestVote(hraft.ServerID(target.ID()), hraft.ServerAddress(target.Addr()), &hraft.RequestVoteRequest{
		RPCHeader: header, Term: term + 1, LastLogIndex: last + 100, LastLogTerm: term,
	}, &vr)
	return appendErr, voteErr
}

// TestRaftTakesOnlyMembersCertificates: a certificate the federation's CA
// signed is not enough to speak Raft to a member; it must be the one bound
// to a server of the configuration, and a removed server's is refused.
func TestRaftTakesOnlyMembersCertificates(t *testing.T) {
	ca := testca.New(t)
	c, certs := startTLSCluster(t, ca, 3)
	leader := c.waitLeader()
	c.apply(scope("before"))
	var follower *Node
	for _, n := range c.nodes {
		waitFor(t, n.ID()+" to apply", func() bool { return n.Registry().Scope("before") != nil })
		if n != leader {
			follower = n
		}
	}
	term := leader.raft.CurrentTerm()

	check := func(what, as string, cert *tls.Config) {
		t.Helper()
		refused := follower.Metrics().RefusedPeers
		appendErr, voteErr := attack(t, newIntruder(t, cert), as, follower, what)
		if appendErr == nil || voteErr == nil {
			t.Fatalf("%s: a member took its RPCs (append: %v, vote: %v)", what, appendErr, voteErr)
		}
		if got := follower.Metrics().RefusedPeers; got < refused+2 {
			t.Errorf("%s: refused peers went from %d to %d, want two more", what, refused, got)
		}
		if follower.Registry().Scope(what) != nil {
			t.Fatalf("%s: the member applied the intruder's entry", what)
		}
		if got := follower.raft.CurrentTerm(); got != term || !leader.IsLeader() {
			t.Fatalf("%s: the term moved from %d to %d, or %s lost the leadership", what, term, got, leader.ID())
		}
	}
	check("a CA-signed certificate naming no member", "n9", ca.NodeTLS(t, "n9", ca.Pool))
	check("another certificate naming a member", "n2", ca.NodeTLS(t, "n2", ca.Pool))

	// A node removed from the federation keeps its certificate, and the
	// registry its credential; it is no member any more.
	var removed *Node
	for _, n := range c.nodes {
		if n != leader && n != follower {
			removed = n
		}
	}
	c.onLeader("remove "+removed.ID(), func(l *Node) error { return l.RemoveServer(removed.ID()) })
	waitFor(t, "the follower to see the removal", func() bool { return len(follower.Status(0).Members) == 2 })
	check("the certificate of a removed node", removed.ID(), certs[removed.ID()])

	// A non-voter is a member that never calls one: only a leader sends
	// entries, only a candidate asks for votes.
	nonVoterCert := ca.NodeTLS(t, "n4", ca.Pool)
	nonVoter := addTLSNode(c, "n4", nonVoterCert, false)
	waitFor(t, "the non-voter to replicate", func() bool { return nonVoter.Registry().Scope("before") != nil })
	check("a non-voter's own certificate", "n4", nonVoterCert)

	// The members still replicate to each other.
	c.apply(scope("after"))
	for _, n := range []*Node{follower, nonVoter} {
		waitFor(t, n.ID()+" to apply after the refusals", func() bool { return n.Registry().Scope("after") != nil })
	}
}

// TestRaftDialRefusesAnotherMembersCertificate: a member dialling a
// server's address checks whom it reached: another member's certificate at
// that address, or an address outside the configuration, is refused.
func TestRaftDialRefusesAnotherMembersCertificate(t *testing.T) {
	ca := testca.New(t)
	c, certs := startTLSCluster(t, ca, 3)
	leader := c.waitLeader()
	var victim, other *Node
	for i, n := range c.nodes {
		if n == leader {
			continue
		}
		if victim == nil {
			victim = n
			c.nodes[i] = nil
		} else {
			other = n
		}
	}
	addr := victim.Addr()
	refused := leader.Metrics().RefusedPeers
	victim.Close()

	// The victim's address now answers with the other member's own
	// certificate, which the CA signed and the registry bound to it.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var handshakes atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				s := tls.Server(conn, certs[other.ID()])
				if s.Handshake() == nil {
					handshakes.Add(1)
					io.Copy(io.Discard, s)
				}
			}()
		}
	}()
	waitFor(t, "the leader to refuse the impostor", func() bool { return leader.Metrics().RefusedPeers > refused })
	if n := handshakes.Load(); n != 0 {
		t.Fatalf("the leader completed %d handshakes with the impostor", n)
	}

	// An address no server of the configuration has is not dialled, even
	// where a member's certificate answers.
	stranger, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	go func() {
		conn, err := stranger.Accept()
		if err == nil {
			tls.Server(conn, certs[other.ID()]).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.Dial("tcp", stranger.Addr().String(), leader.peers.dialling(leader.cfg.TLS, stranger.Addr().String()))
	if err == nil {
		conn.Close()
		t.Fatal("dialled an address outside the configuration")
	}
	// The two members left are a quorum and keep committing.
	c.apply(scope("with-one-away"))
	waitFor(t, other.ID()+" to apply", func() bool { return other.Registry().Scope("with-one-away") != nil })
}

// TestTLSClusterRestartsAndFailsOver: with TLS, a restarted follower (its
// registry empty until the leader tells it the commit index: there is no
// snapshot) takes the leader by the certificates it pinned; one whose data
// directory an older build left (no pins) takes members by name until it
// has caught up, then pins them; and the members elect a new leader when
// the old one stops.
func TestTLSClusterRestartsAndFailsOver(t *testing.T) {
	ca := testca.New(t)
	c, _ := startTLSCluster(t, ca, 3)
	leader := c.waitLeader()
	c.apply(scope("one"))
	restarts := 0
	for i, n := range c.nodes {
		if n == leader {
			continue
		}
		waitFor(t, n.ID()+" to apply", func() bool { return n.Registry().Scope("one") != nil })
		cfg := n.cfg
		cfg.Bind = n.Addr()
		n.Close()
		c.nodes[i] = nil
		pins := filepath.Join(cfg.DataDir, peersFile)
		if restarts == 1 {
			if err := os.Remove(pins); err != nil {
				t.Fatal(err)
			}
		}
		name := fmt.Sprint("while-away-", restarts)
		c.apply(scope(name))
		again, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i] = again
		waitFor(t, again.ID()+" to catch up", func() bool { return again.Registry().Scope(name) != nil })
		if got := again.Metrics().RefusedPeers; got != 0 {
			t.Fatalf("restarted %s refused %d connections", again.ID(), got)
		}
		if restarts == 1 {
			waitFor(t, again.ID()+" to pin the members", func() bool {
				b, err := os.ReadFile(pins)
				return err == nil && strings.Contains(string(b), fingerprintOf(c.waitLeader().cfg.TLS))
			})
		}
		restarts++
	}
	for i, n := range c.nodes {
		if n == leader {
			n.Close()
			c.nodes[i] = nil
		}
	}
	c.waitLeader()
	c.apply(scope("after-failover"))
	for _, n := range c.nodes {
		if n != nil {
			waitFor(t, n.ID()+" to apply after the failover", func() bool { return n.Registry().Scope("after-failover") != nil })
			if got := n.Metrics().RefusedPeers; got != 0 {
				t.Errorf("%s refused %d connections from members", n.ID(), got)
			}
		}
	}
}
