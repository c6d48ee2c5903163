// Package conformance is the test suite every state.Store backend passes
// (dex's storage/conformance is the model): each method's contract, the
// refusals of state.Check, expiry under a clock the test moves, and the
// atomicity of Take, Create and Update under concurrent callers, on one
// store (Run) and across two stores sharing one backing, as two nodes do
// (RunNodes).
//
// A backend's test calls it with an opener:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T, now func() time.Time) state.Store { ... })
//	}
package conformance

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Opener returns a new, empty store whose clock is now. It registers the
// store's Close with t.Cleanup; the suite may have closed it already, so
// that Close must tolerate a second call (its error is ignored).
type Opener func(t *testing.T, now func() time.Time) state.Store

// NodesOpener returns two stores on one new, empty backing, as two nodes
// of an operator would open it (for PostgreSQL, two pools on one
// database), both with the clock now. Cleanup as for Opener.
type NodesOpener func(t *testing.T, now func() time.Time) (a, b state.Store)

// Run runs the whole suite against the stores open makes, one new store
// per subtest.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.Store, c *Clock)
	}{
		{"PutGet", testPutGet},
		{"BinaryKeysAndValues", testBinary},
		{"Expiry", testExpiry},
		{"ExpiresRoundTrip", testExpiresRoundTrip},
		{"Create", testCreate},
		{"Take", testTake},
		{"UpdateUpsert", testUpdateUpsert},
		{"UpdateFnError", testUpdateFnError},
		{"UpdateRemoves", testUpdateRemoves},
		{"UpdateRefuses", testUpdateRefuses},
		{"Delete", testDelete},
		{"Scan", testScan},
		{"ScanPaging", testScanPaging},
		{"ScanExpired", testScanExpired},
		{"ScanEdges", testScanEdges},
		{"Sweep", testSweep},
		{"Check", testCheck},
		{"Limits", testLimits},
		{"KindsSeparate", testKindsSeparate},
		{"Copies", testCopies},
		{"Closed", testClosed},
		{"Batch", testBatch},
		{"BatchDistinct", testBatchDistinct},
		{"Spend", testSpend},
		{"ConcurrentGet", func(t *testing.T, s state.Store, c *Clock) { testConcurrentGet(t, c, s) }},
		{"ConcurrentTake", func(t *testing.T, s state.Store, c *Clock) { testConcurrentTake(t, c, s) }},
		{"ConcurrentCreate", func(t *testing.T, s state.Store, c *Clock) { testConcurrentCreate(t, c, s) }},
		{"ConcurrentUpdate", func(t *testing.T, s state.Store, c *Clock) { testConcurrentUpdate(t, c, s) }},
		{"ConcurrentSpend", func(t *testing.T, s state.Store, c *Clock) { testConcurrentSpend(t, c, s) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			s := open(t, c.Now)
			tc.fn(t, s, c)
		})
	}
}

// RunNodes runs the part of the suite that needs two nodes: what one
// writes the other reads, and the concurrency tests with the callers split
// between the two stores. A backend with one node only (embedded) has no
// use for it.
func RunNodes(t *testing.T, open NodesOpener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c *Clock, a, b state.Store)
	}{
		{"Visibility", testNodesVisibility},
		{"Sweep", testNodesSweep},
		{"ConcurrentGet", func(t *testing.T, c *Clock, a, b state.Store) { testConcurrentGet(t, c, a, b) }},
		{"ConcurrentTake", func(t *testing.T, c *Clock, a, b state.Store) { testConcurrentTake(t, c, a, b) }},
		{"ConcurrentCreate", func(t *testing.T, c *Clock, a, b state.Store) { testConcurrentCreate(t, c, a, b) }},
		{"ConcurrentUpdate", func(t *testing.T, c *Clock, a, b state.Store) { testConcurrentUpdate(t, c, a, b) }},
		{"ConcurrentSpend", func(t *testing.T, c *Clock, a, b state.Store) { testConcurrentSpend(t, c, a, b) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock()
			a, b := open(t, c.Now)
			tc.fn(t, c, a, b)
		})
	}
}

// Clock is a clock that moves only when told: expiry is tested without
// sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The kinds the suite writes; two, to check that tables are separate.
const (
	kindA state.Kind = "conformance.a"
	kindB state.Kind = "conformance.b-2"
)

var bg = context.Background()

func put(t *testing.T, s state.Store, kind state.Kind, key, value string, expires time.Time) {
	t.Helper()
	if err := s.Put(bg, kind, []byte(key), []byte(value), expires); err != nil {
		t.Fatalf("Put(%s, %q): %v", kind, key, err)
	}
}

// wantRecord fails unless key's live record is value, expiring at expires.
func wantRecord(t *testing.T, s state.Store, kind state.Kind, key, value string, expires time.Time) {
	t.Helper()
	r, err := s.Get(bg, kind, []byte(key))
	if err != nil {
		t.Fatalf("Get(%s, %q): %v, want %q", kind, key, err, value)
	}
	if !bytes.Equal(r.Value, []byte(value)) {
		t.Fatalf("Get(%s, %q) = %q, want %q", kind, key, r.Value, value)
	}
	if !r.Expires.Equal(expires) {
		t.Fatalf("Get(%s, %q) expires %v, want %v", kind, key, r.Expires, expires)
	}
}

// wantAbsent fails unless Get answers ErrNotFound for key.
func wantAbsent(t *testing.T, s state.Store, kind state.Kind, key string) {
	t.Helper()
	r, err := s.Get(bg, kind, []byte(key))
	if !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get(%s, %q) = %q, %v; want ErrNotFound", kind, key, r.Value, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
