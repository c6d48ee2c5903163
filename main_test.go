package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

// runMcfed runs the command line args as main does and returns its exit
// code and what it printed.
func runMcfed(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUnknownCommandIsNamed(t *testing.T) {
	code, _, stderr := runMcfed(t, "srve")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "srve"`) || !strings.Contains(stderr, "dev, serve, admin, smsc, version, help") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	if code, _, _ := runMcfed(t); code != exitUsage {
		t.Fatalf("no command: exit %d", code)
	}
	if code, _, stderr := runMcfed(t, "help", "srve"); code != exitUsage || !strings.Contains(stderr, `unknown command "srve"`) {
		t.Fatalf("help srve: exit %d, %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runMcfed(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "mcfed ") || !strings.Contains(stdout, "go1.") {
		t.Fatalf("exit %d, %q", code, stdout)
	}
}

// TestServeHelpGroupsFlagsWithTheirVariables: every flag of serve is under
// a heading, with its MCFED_* variable; "mcfed help serve" and "mcfed serve
// -h" say the same.
func TestServeHelpGroupsFlagsWithTheirVariables(t *testing.T) {
	code, help, _ := runMcfed(t, "help", "serve")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(help, "\nOther:") {
		t.Errorf("a flag of serve is in no group:\n%s", help)
	}
	fs, _, _ := serveFlags()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "--"+f.Name+" ") || !strings.Contains(help, "["+envName(f.Name)+"]") {
			t.Errorf("help does not show --%s with %s", f.Name, envName(f.Name))
		}
	})
	for _, want := range []string{"Joining:\n", "TLS between nodes:\n", "--key-rotation duration  [MCFED_KEY_ROTATION]  (default 30d)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not hold %q:\n%s", want, help)
		}
	}
	if code, dashH, _ := runMcfed(t, "serve", "-h"); code != 0 || dashH != help {
		t.Errorf("serve -h: exit %d, and not the same help", code)
	}
}

// TestBadSettingsSayWhatTheyAccept: each bad flag or variable gets one line
// with the value given and what is accepted, and exit code 2; nothing
// starts.
func TestBadSettingsSayWhatTheyAccept(t *testing.T) {
	t.Setenv("MCFED_KEY_ROTATION", "30x")
	t.Setenv("MCFED_BOOTSTRAP", "yes")
	code, _, stderr := runMcfed(t, "serve", "--max-staleness", "5")
	if code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		`mcfed serve: MCFED_KEY_ROTATION="30x": want a number and a unit, e.g. 90s, 90m, 720h or 30d`,
		`mcfed serve: MCFED_BOOTSTRAP="yes": want true or false`,
		`mcfed serve: invalid value "5" for flag -max-staleness: want a number and a unit`,
	} {
		if strings.Count(stderr, want) != 1 {
			t.Errorf("stderr does not say once %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "usage") || strings.Contains(stderr, "Node:") {
		t.Errorf("a bad flag printed the help:\n%s", stderr)
	}

	// Days are a unit.
	t.Setenv("MCFED_KEY_ROTATION", "30d")
	t.Setenv("MCFED_BOOTSTRAP", "true")
	code, _, stderr = runMcfed(t, "serve", "--public-addr", ":8080", "--node-id", "a", "--data-dir", t.TempDir(),
		"--admin-token", "admin-token-abcdefghijkl", "--raft-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: --public-addr :8080 listens on every interface") ||
		!strings.Contains(stderr, "set --public-url") || strings.Contains(stderr, "MCFED_KEY_ROTATION") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}

// TestSMSCSaysWhatItNeeds: the simulated SMSC will not start without the
// password its gateways bind with, and says which flag gives it.
func TestSMSCSaysWhatItNeeds(t *testing.T) {
	code, _, stderr := runMcfed(t, "smsc", "--smpp-addr", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(stderr, "mcfed smsc: --password-file is required") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	none := t.TempDir() + "/none"
	code, _, stderr = runMcfed(t, "smsc", "--password-file", none)
	if code != exitUsage || !strings.Contains(stderr, "mcfed smsc: --password-file "+none+": ") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}
