package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/dev"
)

// TestAgainstTheDevFederation runs the load generator's drivers briefly
// against an in-process dev federation, described by the dev.json it wrote.
func TestAgainstTheDevFederation(t *testing.T) {
	dir := t.TempDir()
	d, err := dev.Start(context.Background(), dev.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := client.ReadDevInfo(d.InfoPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("logins", func(t *testing.T) {
		var log strings.Builder
		// Two users, six whole logins; the duration only bounds a run that
		// would hang.
		rep, err := runLogins(context.Background(), loginConfig{info: info, users: 2, duration: time.Minute,
			maxLogins: 6, perOperator: 4, log: &log})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ok != 6 || len(rep.errors) != 0 {
			t.Fatalf("%d logins succeeded, errors %v", rep.ok, rep.errors)
		}
		if rep.provisioned != 12 || rep.used == 0 || strings.Count(log.String(), "provisioned 4 subscribers") != 3 {
			t.Fatalf("provisioned %d, used %d; log:\n%s", rep.provisioned, rep.used, log.String())
		}
		for i, lat := range rep.phases {
			if len(lat) != 6 {
				t.Fatalf("phase %s timed %d times", phaseNames[i], len(lat))
			}
		}
	})

	t.Run("logins with ES256 ID tokens and the server's CPU per phase", func(t *testing.T) {
		// The federation runs in this process: its CPU is the test's.
		server, err := newServerCPU(info.PID)
		if err != nil || server == nil || info.PID != os.Getpid() {
			t.Fatalf("dev.json gives pid %d (this process is %d): %v", info.PID, os.Getpid(), err)
		}
		// The driver fails a login whose ID token is not ES256.
		rep, err := runLogins(context.Background(), loginConfig{info: info, users: 2, duration: time.Minute,
			maxLogins: 4, perOperator: 4, sps: 2, idTokenAlg: "ES256", server: server, phaseLogins: 5})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ok != 4 || len(rep.errors) != 0 || rep.cpu == nil || rep.cpu.cpu <= 0 {
			t.Fatalf("%d logins succeeded, errors %v, server CPU %+v", rep.ok, rep.errors, rep.cpu)
		}
		ph := rep.phaseCPU
		if ph == nil || ph.logins != 5 || ph.ok != 5 || len(ph.errors) != 0 {
			t.Fatalf("phase pass %+v", ph)
		}
		// Where the kernel counts CPU in clock ticks (no schedstat), one
		// phase of five logins can read as none: each phase's share is at
		// least zero, and all of them together are some.
		var total time.Duration
		for i, n := range ph.done {
			if n != 5 || ph.cpu[i] < 0 {
				t.Fatalf("phase %s: %d logins done, %s CPU", phaseNames[i], n, ph.cpu[i])
			}
			total += ph.cpu[i]
		}
		if total <= 0 {
			t.Fatalf("the phases of five logins took no server CPU: %v", ph.cpu)
		}
		var out strings.Builder
		rep.print(&out)
		if !strings.Contains(out.String(), "logins per server CPU-second") || !strings.Contains(out.String(), "net/login") {
			t.Fatalf("the report does not give the CPU:\n%s", out.String())
		}
	})

	t.Run("logins stop when the SMS allowance is spent", func(t *testing.T) {
		// One subscriber per operator: three numbers, five SMS each.
		rep, err := runLogins(context.Background(), loginConfig{info: info, users: 2, duration: time.Minute, perOperator: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.exhausted || rep.ok != 3*smsPerNumber || len(rep.errors) != 0 {
			t.Fatalf("exhausted %v, %d ok, errors %v", rep.exhausted, rep.ok, rep.errors)
		}
	})

	t.Run("discovery on every node", func(t *testing.T) {
		target, err := devDiscoveryTarget(info)
		if err != nil {
			t.Fatal(err)
		}
		r, err := drive(target, 2, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if r.status[200] == 0 || r.status[200] != r.n || r.errs != 0 {
			t.Fatalf("discovery: %s", r)
		}
	})
}
