package federation

import (
	"context"
	"encoding/json"
	"hash/crc64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// setSnapshotFormat rewrites the format digit of the registry snapshot at
// state.bin, and its checksum in the snapshot's meta.json so that Raft
// takes the file as intact: the snapshot a build of another format wrote.
func setSnapshotFormat(t *testing.T, state string, format byte) {
	t.Helper()
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	const digit = len("mcfed-registry-snapshot\n")
	if len(b) <= digit || b[digit] < '2' || b[digit] > '9'+1 {
		t.Fatalf("%s does not open as a registry snapshot: %q", state, b[:min(len(b), digit+1)])
	}
	b[digit] = format
	if err := os.WriteFile(state, b, 0o600); err != nil {
		t.Fatal(err)
	}
	metaPath := filepath.Join(filepath.Dir(state), "meta.json")
	mb, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(mb, &meta); err != nil {
		t.Fatal(err)
	}
	h := crc64.New(crc64.MakeTable(crc64.ECMA)) // hashicorp/raft's FileSnapshotStore checksum
	h.Write(b)
	meta["CRC"] = h.Sum(nil)
	if mb, err = json.Marshal(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, mb, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOlderBuildRefusesANewerSnapshot: a node started by an older build on
// a data directory where a newer one wrote a registry snapshot (a
// downgrade after an upgrade) refuses to start, saying the format it found,
// the formats it reads and what to do, and leaves the directory as it was;
// the build that reads the format starts on it again.
func TestOlderBuildRefusesANewerSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n1")
	cfg := testNodeConfig(t, "n1", dir)
	cfg.Bootstrap = true
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitCatalogue(t, n)
	if err := n.Raft().Snapshot(); err != nil {
		t.Fatal(err)
	}
	cfg.RaftAddr, cfg.AdminAddr = n.Raft().Addr(), strings.TrimPrefix(n.AdminURL(), "http://")
	n.Close()
	files, err := snapshotFiles(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no snapshot in the data directory: %v %v", files, err)
	}
	original, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	setSnapshotFormat(t, files[0], '9'+1) // format 10: the version byte is '0' plus it
	before, err := listTree(dir)
	if err != nil {
		t.Fatal(err)
	}

	cfg.Bootstrap = false
	again, err := Start(context.Background(), cfg)
	if err == nil {
		again.Close()
		t.Fatal("a build that reads formats up to 9 started on a format 10 snapshot")
	}
	for _, want := range []string{"holds a registry snapshot of format 10", "written by a newer mcfed",
		"this build reads formats 2 to 9", "run the newer build on it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	if after, err := listTree(dir); err != nil || !reflect.DeepEqual(after, before) {
		t.Fatalf("the refused start changed the data directory: %v (%v)", after, err)
	}

	// The newer build, here the snapshot put back as this build wrote it,
	// starts on the directory with the registry it held.
	setSnapshotFormat(t, files[0], original[len("mcfed-registry-snapshot\n")])
	again, err = Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start on the snapshot this build wrote: %v", err)
	}
	defer again.Close()
	if again.Raft().Registry().Scope("openid") == nil {
		t.Fatal("the restarted node lost the catalogue of its snapshot")
	}
}
