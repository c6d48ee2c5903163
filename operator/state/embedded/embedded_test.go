package embedded_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/conformance"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

func open(t testing.TB, now func() time.Time) state.Store {
	s, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite both backends pass. The embedded store
// serves one node (bbolt locks its file), so conformance.RunNodes does
// not apply to it.
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, now func() time.Time) state.Store { return open(t, now) })
}

func BenchmarkStore(b *testing.B) {
	conformance.Benchmark(b, func(b *testing.B) state.Store { return open(b, time.Now) })
}
