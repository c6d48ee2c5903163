package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgainstNodeOIDCProvider runs the oidc driver briefly against
// e2e/oidcbench's server, when Node and its npm install are there
// (compare.sh installs it).
func TestAgainstNodeOIDCProvider(t *testing.T) {
	dir, _ := filepath.Abs("../oidcbench")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		t.Skip("oidc-provider is not installed: npm ci in e2e/oidcbench")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	cmd := exec.Command(node, filepath.Join(dir, "server.js"), "--port", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if iss, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				issuer <- iss
			}
		}
		close(issuer)
	}()
	var iss string
	select {
	case iss = <-issuer:
	case <-time.After(30 * time.Second):
		t.Fatal("server.js did not say where it listens within 30s")
	}
	if iss == "" {
		t.Fatal("server.js ended without listening")
	}
	server, err := newServerCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"RS256", "ES256"} {
		// The driver fails a flow whose ID token is not signed with alg.
		rep, err := runOIDC(context.Background(), oidcConfig{issuer: iss, clientID: "bench-" + strings.ToLower(alg),
			secret: "oidcbench-client-secret-0123456789abcdef", redirect: "http://127.0.0.1/callback", scope: "openid profile",
			alg: alg, users: 2, duration: time.Minute, maxFlows: 6, server: server})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ok != 6 || len(rep.errors) != 0 || rep.cpu == nil || rep.cpu.cpu <= 0 {
			t.Fatalf("%s: %d flows succeeded, errors %v, server CPU %+v", alg, rep.ok, rep.errors, rep.cpu)
		}
		// authorize, the interaction, the resumed authorize, token, userinfo
		if rep.requests != 5*6 {
			t.Fatalf("%s: %d HTTP requests for 6 flows", alg, rep.requests)
		}
	}
	// A client whose ID tokens are RS256 fails a run that wants ES256.
	rep, err := runOIDC(context.Background(), oidcConfig{issuer: iss, clientID: "bench-rs256",
		secret: "oidcbench-client-secret-0123456789abcdef", redirect: "http://127.0.0.1/callback", scope: "openid profile",
		alg: "ES256", users: 1, duration: time.Minute, maxFlows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ok != 0 || rep.errors["token: ID token signed with RS256, not ES256"] != 1 {
		t.Fatalf("%d ok, errors %v", rep.ok, rep.errors)
	}
}
