package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/testca"
)

// failedJoin starts a node with cfg, which must fail to join with kind and
// a message holding want, leave cfg's data directory as it found it, and
// (unless the federation had no leader) not retry. It returns the message.
func failedJoin(t *testing.T, cfg Config, kind JoinFailure, want string) string {
	t.Helper()
	// The directory exists and holds a file of the operator's: both stay.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n, err := Start(context.Background(), cfg)
	if err == nil {
		n.Close()
		t.Fatalf("the join via %s succeeded", cfg.Join)
	}
	var je *JoinError
	if !errors.As(err, &je) || je.Kind != kind {
		t.Fatalf("join via %s: %v, want a %q join error", cfg.Join, err, kind)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("join via %s says %q, want one line holding %q", cfg.Join, msg, want)
	}
	if retried := strings.Contains(logs.String(), "retrying"); retried != (kind == JoinNoLeader) {
		t.Errorf("a %q join failure retried: %v, want %v:\n%s", kind, retried, kind == JoinNoLeader, logs.String())
	}
	entries, err := os.ReadDir(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"notes.txt"}) {
		t.Errorf("after a failed join the data directory holds %v, want only what was there before", names)
	}
	return msg
}

// TestJoinFailsFastAndSaysWhy: each way a join goes wrong ends at once with
// its own one-line message, naming what to change, and leaves the data
// directory as it was.
func TestJoinFailsFastAndSaysWhy(t *testing.T) {
	plain := startFed(t, 1)
	ca := testca.New(t)
	tlsCfg := testNodeConfig(t, "t1", t.TempDir())
	tlsCfg.Bootstrap, tlsCfg.RaftTLS = true, ca.NodeTLS(t, "t1", ca.Pool)
	tlsNode, err := Start(context.Background(), tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tlsNode.Close()
	tlsURL := tlsNode.AdminURL()
	plainURL := plain.nodes[0].AdminURL()

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	joiner := func(via string, tls bool) Config {
		cfg := testNodeConfig(t, "n9", filepath.Join(t.TempDir(), "n9"))
		cfg.Join, cfg.JoinToken, cfg.JoinTimeout = via, "some-token", time.Minute
		if tls {
			cfg.RaftTLS = ca.NodeTLS(t, "n9", ca.Pool)
		}
		return cfg
	}
	// A node with another federation's certificate, trusting trust.
	other := testca.New(t)
	foreign := func(trust *x509.CertPool) Config {
		cfg := joiner(tlsURL, false)
		cfg.RaftTLS = other.NodeTLS(t, "n9", trust)
		return cfg
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		kind JoinFailure
		want string
	}{
		{"an unreachable port", joiner("http://"+closed, false), JoinUnreachable, "nothing listens at " + closed + " (connection refused)"},
		{"an unknown host", joiner("http://no-such-host.invalid:7001", false), JoinUnreachable, "cannot resolve no-such-host.invalid"},
		{"http:// to a TLS member", joiner(strings.Replace(tlsURL, "https://", "http://", 1), true), JoinTLSMismatch, "speaks TLS and closed a plain HTTP request: use https://"},
		{"https:// to a plain member", joiner(strings.Replace(plainURL, "http://", "https://", 1), true), JoinTLSMismatch, "does not speak TLS: use http://"},
		{"a TLS member, no certificates here", joiner(tlsURL, false), JoinTLSMismatch, "give --tls-cert, --tls-key and --tls-ca"},
		{"a name the certificate does not hold", joiner(strings.Replace(tlsURL, "127.0.0.1", "localhost", 1), true), JoinTLSMismatch, "not valid for localhost"},
		{"another federation's CA", foreign(other.Pool), JoinWrongFederation, "not signed by the CA of --tls-ca"},
		{"a certificate another CA signed", foreign(ca.Pool), JoinWrongFederation, "the member refused this node's certificate"},
		{"a bad token", joiner(plainURL, false), JoinRefused, "the member refused the join token: "},
		{"the public listener", joiner(publicOf(t), false), JoinNotAMember, "not its public one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := failedJoin(t, tc.cfg, tc.kind, tc.want)
			t.Log(msg)
		})
	}
}

// publicOf starts a node with a public listener and returns its URL, one a
// person may give --join by mistake.
func publicOf(t *testing.T) string {
	cfg := testNodeConfig(t, "pub", t.TempDir())
	cfg.Bootstrap, cfg.PublicAddr = true, "127.0.0.1:0"
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n.PublicURL()
}

// TestJoinWaitsForALeaderWithinItsTimeout: a federation that cannot admit
// anybody (it lost its quorum) is waited for, with progress in the log,
// and given up on after --join-timeout, leaving no trace.
func TestJoinWaitsForALeaderWithinItsTimeout(t *testing.T) {
	f := startFed(t, 2)
	token := f.joinToken(0, "n3", "")
	l := f.leader()
	f.nodes[l].Close()
	survivor := f.nodes[1-l]
	f.nodes[l] = nil
	f.waitFor("the survivor to lose its leader", func() bool { id, _ := survivor.Raft().Leader(); return id == "" })

	cfg := testNodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3"))
	cfg.Join, cfg.JoinToken, cfg.JoinTimeout = survivor.AdminURL(), token, 1500*time.Millisecond
	msg := failedJoin(t, cfg, JoinNoLeader, "could not admit this node within 1.5s (--join-timeout)")
	t.Log(msg)
}
