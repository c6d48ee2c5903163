package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mcfed/mcfed/internal/pgtest"
)

// mcfedBin is the mcfed binary the tests run, built once by TestMain.
var mcfedBin string

// TestMain builds the binary once for all tests. It is built without the
// race detector whatever the test binary uses: the nodes' own code is
// race-tested by the package tests, and an instrumented binary would make
// every node several times slower on a 2-core CI machine.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mcfed-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	mcfedBin = filepath.Join(dir, "mcfed")
	if err := build(mcfedBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building mcfed:", err)
		return 1
	}
	// The PostgreSQL cluster the tests start, if any, stops with them.
	return pgtest.Run(m)
}

func build(out string) error {
	// go test puts the toolchain it runs on first in PATH, so this is the
	// same go that built the test.
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = ".." // the module root: the e2e package's parent
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, b)
	}
	return nil
}
