package dev

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcfed/mcfed/client"
)

// TestDevResumesOnItsDataDirectory: `mcfed dev --data-dir D` stopped and
// started again is the same federation: the same admin token and SP secret
// (the old secret still logs a subscriber in), the same ports, the demo
// subscribers still there, the same issuers' keys. --reset starts over.
func TestDevResumesOnItsDataDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	ctx := context.Background()
	first, err := Start(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before := first.Info()
	if first.Resumed {
		t.Error("a demo on a new directory says it resumed")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := Start(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatalf("started again on %s: %v", dir, err)
	}
	t.Cleanup(func() { again.Close() })
	after := again.Info()
	if !again.Resumed || after.AdminToken != before.AdminToken || after.SP.ClientSecret != before.SP.ClientSecret {
		t.Fatalf("resumed %v; credentials before %s/%s, after %s/%s", again.Resumed,
			before.AdminToken, before.SP.ClientSecret, after.AdminToken, after.SP.ClientSecret)
	}
	for i := range before.Nodes {
		// The ports were free again: the same URLs.
		if before.Nodes[i] != after.Nodes[i] {
			t.Errorf("node %d was %+v, is %+v", i, before.Nodes[i], after.Nodes[i])
		}
	}
	if before.SP.PageURL != after.SP.PageURL || before.Handset.PageURL != after.Handset.PageURL {
		t.Errorf("the SP page or the handset moved: %s %s, then %s %s",
			before.SP.PageURL, before.Handset.PageURL, after.SP.PageURL, after.Handset.PageURL)
	}
	// The SP secret of the first run logs in (discovery, authorize, token
	// exchange with the credentials discovery hands out, userinfo), and the
	// subscriber seeded then is still there.
	loginAt(t, again, 1, before.SP.ClientSecret)
	info, err := client.ReadDevInfo(filepath.Join(dir, client.DevInfoFile))
	if err != nil || info.SP.ClientSecret != before.SP.ClientSecret {
		t.Fatalf("dev.json after the restart: %+v %v", info, err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}

	fresh, err := Start(ctx, Options{DataDir: dir, Reset: true})
	if err != nil {
		t.Fatalf("--reset on %s: %v", dir, err)
	}
	t.Cleanup(func() { fresh.Close() })
	if fresh.Resumed || fresh.SPSecret == before.SP.ClientSecret || fresh.AdminToken == before.AdminToken {
		t.Fatalf("after --reset: resumed %v, the old credentials kept", fresh.Resumed)
	}
}

// TestDevRefusesForeignDirectories: a directory with files of its own is
// neither resumed nor emptied by --reset.
func TestDevRefusesForeignDirectories(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "thesis.tex")
	if err := os.WriteFile(keep, []byte("years of work"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, reset := range []bool{false, true} {
		d, err := Start(context.Background(), Options{DataDir: dir, Reset: reset})
		if err == nil {
			d.Close()
			t.Fatalf("reset %v: the demo started in a directory that holds other files", reset)
		}
		if !errors.Is(err, ErrNotDemoDir) {
			t.Errorf("reset %v: %v, want ErrNotDemoDir", reset, err)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Fatalf("reset %v: the directory's file is gone: %v", reset, err)
		}
	}
}
