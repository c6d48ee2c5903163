package embedded_test

import (
	"context"
	"errors"
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
	conformance.Benchmark(b, func(b *testing.B) state.Store { return open(b, time.Now) }, nil)
}

// TestReopen: records outlive the process's store, as a node's restart.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := embedded.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Round(0)
	if err := s.Put(context.Background(), "t.k", []byte("k"), []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = embedded.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Get(context.Background(), "t.k", []byte("k"))
	if err != nil || string(r.Value) != "v" || !r.Expires.Equal(exp) {
		t.Fatalf("after reopening: %q, %v, %v", r.Value, r.Expires, err)
	}
}

// TestPanickingUpdateReachesItsCaller: a write function that panics panics
// in its caller's goroutine, where a server's recovery sees it, not in the
// committer's (which would end the process); what it wrote before it
// panicked is not committed, and the store goes on serving.
func TestPanickingUpdateReachesItsCaller(t *testing.T) {
	s, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want the write's panic", v)
			}
		}()
		s.Update(ctx, "k", []byte("a"), func(state.Record, bool) (state.Record, error) { panic("boom") })
		t.Fatal("Update returned after its function panicked")
	}()
	if err := s.Put(ctx, "k", []byte("b"), []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("the store after a panicking write: %v", err)
	}
	if _, err := s.Get(ctx, "k", []byte("a")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("the panicking write left a record: %v", err)
	}
}
