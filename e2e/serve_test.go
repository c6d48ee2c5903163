package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Exit codes of mcfed serve (main.go).
const (
	exitUsage = 2
	exitJoin  = 3
)

// runServe runs mcfed serve to its end with args, the test's environment
// without MCFED_* variables plus env, and returns its exit code and the
// last line of its stderr, the one a person reads. ctx bounds the run: a
// node that does not give up fails the test.
func runServe(t *testing.T, ctx context.Context, args, env []string) (code int, last string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, mcfedBin, append([]string{"serve"}, args...)...)
	cmd.Env = append(nodeEnv(), env...)
	dieWithTest(cmd)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mcfed serve %s did not end by itself; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last = lines[len(lines)-1]
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, last
	case errors.As(err, &exit):
		return exit.ExitCode(), last
	}
	t.Fatalf("mcfed serve: %v", err)
	return 0, ""
}

// TestJoinFailuresEndTheProcess: a node whose join cannot succeed (nothing
// listens at --join, a bad token) exits at once with code 3 and a line
// saying why, well within --join-timeout, and leaves its data directory as
// it was.
func TestJoinFailuresEndTheProcess(t *testing.T) {
	f := startFederation(t, ukDemo)
	member := f.nodes[0]
	closed := freePorts(t, 1)[0] // closed again when freePorts returns
	for _, tc := range []struct {
		name, via, token, want string
	}{
		{"nothing listens", "http://" + closed, "some-token", "failed (unreachable): nothing listens at " + closed},
		{"a bad token", member.adminURL(), "not-a-token", "failed (refused): the member refused the join token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() // an operator's empty directory
			ports := freePorts(t, 3)
			// The test's own bound is far beyond the node's --join-timeout:
			// a join that cannot succeed must not wait for either.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			code, last := runServe(t, ctx, []string{"--node-id", "n9", "--data-dir", dir, "--raft-addr", ports[0],
				"--admin-addr", ports[1], "--public-addr", ports[2], "--join", tc.via, "--join-timeout", "2m"},
				[]string{"MCFED_ADMIN_TOKEN=" + f.adminToken, "MCFED_JOIN_TOKEN=" + tc.token})
			if code != exitJoin || !strings.HasPrefix(last, "mcfed serve: join via "+tc.via+" ") || !strings.Contains(last, tc.want) {
				t.Fatalf("exit %d, %q; want exit %d and %q", code, last, exitJoin, tc.want)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Fatalf("the failed join left %v in the data directory (%v)", entries, err)
			}
		})
	}
}

// TestStartMisconfigurationsExit2: a setting that would make the node
// useless stops it at start with exit code 2 and the flag that fixes it.
func TestStartMisconfigurationsExit2(t *testing.T) {
	ports := freePorts(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "node")
	code, last := runServe(t, ctx, []string{"--node-id", "n1", "--data-dir", dir, "--bootstrap", "--raft-addr", ports[0],
		"--admin-addr", ports[1], "--public-addr", ":8080"}, []string{"MCFED_ADMIN_TOKEN=admin-token-abcdefghijkl"})
	if code != exitUsage || !strings.Contains(last, "--public-addr :8080 listens on every interface") || !strings.Contains(last, "set --public-url") {
		t.Fatalf("exit %d, %q", code, last)
	}
	code, last = runServe(t, ctx, []string{"--key-rotation", "30x"}, nil)
	if code != exitUsage || !strings.Contains(last, `run "mcfed help serve"`) {
		t.Fatalf("a bad duration: exit %d, %q", code, last)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused start made its data directory: %v", err)
	}
}

// TestLogsHaveOneSchema: every line a node writes, Raft's included, is a
// JSON object with time, level and msg; the bootstrap election is not a
// warning; the node says its version and listeners at start, and that it
// stopped.
func TestLogsHaveOneSchema(t *testing.T) {
	f := startFederation(t, ukDemo)
	n := f.nodes[0]
	if err := n.proc.stop(stopGrace); err != nil {
		t.Fatalf("stop: %v", err)
	}
	file, err := os.Open(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var started, stopped, election bool
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "=== ") {
			continue // the harness's own line before each start
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k].(string); !ok {
				t.Fatalf("a log line has no %s: %q", k, line)
			}
		}
		for k, v := range m {
			if _, isNum := v.(float64); isNum && (k == "duration" || strings.HasSuffix(k, "timeout")) {
				t.Errorf("%s is a bare number in %q: durations are logged as milliseconds (%s_ms)", k, line, k)
			}
		}
		switch m["msg"] {
		case "heartbeat timeout reached, starting election", "entering candidate state":
			election = true
			if m["level"] == "WARN" || m["level"] == "ERROR" {
				t.Errorf("raft's bootstrap election is logged as %s: %q", m["level"], line)
			}
		case "node started":
			started = m["version"] != nil && m["admin"] != nil && m["raft"] != nil && m["public"] != nil
		case "node stopped":
			stopped = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !election || !started || !stopped {
		t.Fatalf("the log lacks the election (%v), the start line with version and listeners (%v) or the stop line (%v):\n%s",
			election, started, stopped, logTail(n.logPath))
	}
}
