package idgw

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// testStore is a real embedded state store in the test's directory whose
// clock a test can set to its fake one, so that what expires for the
// gateway expires for the store.
type testStore struct {
	*embedded.Store
	clock atomic.Pointer[func() time.Time]
}

func newTestStore(t testing.TB) *testStore {
	t.Helper()
	ts := &testStore{}
	s, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: func() time.Time {
		if c := ts.clock.Load(); c != nil {
			return (*c)()
		}
		return time.Now()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Store = s
	t.Cleanup(func() { s.Close() })
	return ts
}

// setClock makes now the store's clock (a test's fake clock).
func (s *testStore) setClock(now func() time.Time) { s.clock.Store(&now) }

// useClock gives g and its store the clock now.
func useClock(g *Gateway, now func() time.Time) {
	g.now = now
	g.cfg.Store.(*testStore).setClock(now)
}

// liveCount is the number of live records of kind in g's store.
func liveCount(t testing.TB, g *Gateway, kind state.Kind) int {
	t.Helper()
	es, err := g.cfg.Store.(*testStore).Scan(context.Background(), kind, nil, nil, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
