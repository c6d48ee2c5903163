package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's "Run a federation" lies between these markers: its sh
// blocks are the script, its text blocks what the script prints.
const (
	walkthroughBegin = "<!-- run-a-federation -->"
	walkthroughEnd   = "<!-- /run-a-federation -->"
)

// walkthroughAddrs are the variables through which the walk-through takes
// its nodes' listeners, with the defaults it shows in the README.
var walkthroughAddrs = []struct{ name, addr string }{
	{"A_RAFT", "127.0.0.1:7000"}, {"A_ADMIN", "127.0.0.1:7001"}, {"A_PUBLIC", "127.0.0.1:8080"},
	{"B_RAFT", "127.0.0.1:7010"}, {"B_ADMIN", "127.0.0.1:7011"}, {"B_PUBLIC", "127.0.0.1:8081"},
	{"C_RAFT", "127.0.0.1:7020"}, {"C_ADMIN", "127.0.0.1:7021"}, {"C_PUBLIC", "127.0.0.1:8082"},
	{"SMSC", "127.0.0.1:2775"}, {"HANDSET", "127.0.0.1:8090"}, {"SHOP", "127.0.0.1:9000"},
}

var fencedBlock = regexp.MustCompile("(?s)```(sh|text)\n(.*?)```")

// walkthrough reads the README's "Run a federation": the script its sh
// blocks make, in order, and the output its text blocks show.
func walkthrough(t *testing.T) (script, output string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), walkthroughBegin)
	section, _, ok2 := strings.Cut(rest, walkthroughEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md has no section between %s and %s", walkthroughBegin, walkthroughEnd)
	}
	var sh, text strings.Builder
	for _, m := range fencedBlock.FindAllStringSubmatch(section, -1) {
		if m[1] == "sh" {
			sh.WriteString(m[2] + "\n")
		} else {
			text.WriteString(m[2])
		}
	}
	if sh.Len() == 0 || text.Len() == 0 {
		t.Fatal("the walk-through has no sh or no text block")
	}
	return sh.String(), text.String()
}

// TestRunAFederation runs the README's "Run a federation" as a person
// would, command by command, against the binary built from this tree, on
// ports the test picks: certificates from openssl, three nodes with mutual
// TLS and settings files, two joins, an SP, discovery on every node,
// subscribers provisioned on their operators' nodes. What the commands
// print must be what the README shows, and every node must stop cleanly at
// the end.
func TestRunAFederation(t *testing.T) {
	for _, tool := range []string{"bash", "openssl", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk-through needs %s: %v", tool, err)
		}
	}
	script, want := walkthrough(t)
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "run-a-federation.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	installMcfed(t, bin)
	installShop(t, bin)

	env := append(nodeEnv(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ports := freePorts(t, len(walkthroughAddrs))
	for i, a := range walkthroughAddrs {
		env = append(env, a.name+"="+ports[i])
		want = strings.ReplaceAll(want, a.addr, ports[i])
	}

	// Three elections, two joins and their catching up: seconds on a
	// loaded 2-core machine. The bound is for a walk-through that hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eu", "-o", "pipefail", scriptPath)
	cmd.Dir, cmd.Env = dir, env
	dieWithTest(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	work := filepath.Join(dir, "mcfed-walkthrough")
	if err != nil || stdout.String() != want {
		killWalkthroughNodes(work)
		var logs strings.Builder
		for _, n := range []string{"smsc", "shop", "a", "b", "c"} {
			logs.WriteString("\n--- " + n + ".log\n" + logTail(filepath.Join(work, n+".log")))
		}
		t.Fatalf("the walk-through: %v (after %s)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s%s",
			err, time.Since(start).Round(time.Millisecond), stdout.String(), want, stderr.String(), logs.String())
	}
	t.Logf("the walk-through ran in %s", time.Since(start).Round(time.Millisecond))
}

// installMcfed puts "mcfed" in dir for the walk-through's PATH: the binary
// under test.
func installMcfed(t *testing.T, dir string) {
	t.Helper()
	install(t, dir, "mcfed", mcfedBin)
}

// installShop builds the README's example SP, examples/shop, and puts it
// in dir as "mcfed-shop", the name the README builds it under.
func installShop(t *testing.T, dir string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcfed-shop")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/shop")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/shop: %v\n%s", err, out)
	}
	install(t, dir, "mcfed-shop", bin)
}

// install puts bin in dir under name, run through setpriv where there is
// one so that a process the script started in the background dies with
// the script (the script is killed with the test; see dieWithTest).
func install(t *testing.T, dir, name, bin string) {
	t.Helper()
	path := filepath.Join(dir, name)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if err := os.Symlink(bin, path); err != nil {
			t.Fatal(err)
		}
		return
	}
	wrapper := "#!/bin/sh\nexec " + setpriv + " --pdeathsig KILL " + bin + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(wrapper), 0o700); err != nil {
		t.Fatal(err)
	}
}

// killWalkthroughNodes kills the nodes a failed walk-through left running,
// by the pid files it wrote.
func killWalkthroughNodes(work string) {
	for _, n := range []string{"shop", "smsc", "a", "b", "c"} {
		b, err := os.ReadFile(filepath.Join(work, n+".pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill() // gone already: nothing to do
		}
	}
}
