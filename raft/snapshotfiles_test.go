package raft

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// What a node keeps on disk (the log, snapshots of the registry, and the
// directories holding them) is readable by the node's user only, even in a
// data directory first made with a looser mode.
func TestDataDirectoryIsPrivate(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		if err := os.Chmod(cfg.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	n := c.waitLeader()
	c.apply(scope("before-snapshot"))
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	var files int
	err := filepath.WalkDir(c.dirs[0], func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group or others", path, info.Mode().Perm())
		}
		if filepath.Base(filepath.Dir(filepath.Dir(path))) == "snapshots" {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no snapshot file written: the test checked nothing")
	}
}
