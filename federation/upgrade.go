package federation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcfed/mcfed/registry"
)

// snapshotFiles are the registry snapshots Raft keeps in a node's data
// directory (hashicorp/raft's FileSnapshotStore: one directory per
// snapshot, its state in state.bin; a directory ending in .tmp is one being
// written, which Raft ignores).
func snapshotFiles(dataDir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dataDir, "raft", "snapshots", "*", "state.bin"))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, p := range paths {
		if !strings.HasSuffix(filepath.Dir(p), ".tmp") {
			files = append(files, p)
		}
	}
	return files, nil
}

// checkSnapshotFormats refuses a data directory holding a registry snapshot
// this build cannot read, before Raft opens it. A newer format means a
// newer build ran on the directory: this one would restore an older
// snapshot in its place, or none, and Raft's only word for it is "failed
// to load any existing snapshots". Going back to an older build after a
// newer one wrote a snapshot is not possible; the newer build runs on.
func checkSnapshotFormats(dataDir string) error {
	if dataDir == "" {
		return nil
	}
	files, err := snapshotFiles(dataDir)
	if err != nil {
		return err
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue // Raft says what it cannot open
		}
		_, err = registry.ReadSnapshotFormat(f)
		f.Close()
		var fe *registry.SnapshotFormatError
		switch {
		case !errors.As(err, &fe):
			// Readable, or damaged: Raft checks each snapshot's checksum
			// and falls back to an older one.
		case fe.Format > fe.Newest:
			return fmt.Errorf("data directory %s holds a registry snapshot of format %d (%s), written by a newer mcfed; "+
				"this build reads formats %d to %d: run the newer build on it (a node cannot go back to an older build "+
				"once a newer one has written a snapshot)", dataDir, fe.Format, filepath.Dir(path), fe.Oldest, fe.Newest)
		default:
			return fmt.Errorf("data directory %s holds a registry snapshot of format %d (%s), older than this build reads "+
				"(%d to %d): start an intermediate release on it first, or make the node anew (remove it from the "+
				"federation, empty the directory, join again)", dataDir, fe.Format, filepath.Dir(path), fe.Oldest, fe.Newest)
		}
	}
	return nil
}
