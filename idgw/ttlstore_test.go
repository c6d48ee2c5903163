package idgw

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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

func TestTTLStoreExpiresAndSweeps(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newTTLStore[string](clock.now)
	s.put(tokenKey("a"), "A", time.Minute)
	s.put(tokenKey("b"), "B", time.Hour)
	if v, ok := s.get(tokenKey("a")); !ok || v != "A" {
		t.Fatal("a fresh entry is missing")
	}
	clock.advance(time.Minute)
	if _, ok := s.get(tokenKey("a")); ok {
		t.Fatal("an entry is served at its expiry")
	}
	if !s.update(tokenKey("b"), func(v string) string { return v + "2" }) {
		t.Fatal("update of a live entry failed")
	}
	if v, _ := s.get(tokenKey("b")); v != "B2" {
		t.Fatalf("updated value %q", v)
	}
	if n := s.sweep(); n != 1 || s.len() != 1 {
		t.Fatalf("sweep removed %d, %d left; want 1 and 1", n, s.len())
	}
}

func TestTTLStoreTakeIsSingleUse(t *testing.T) {
	s := newTTLStore[int](time.Now)
	code := newSecret()
	s.put(tokenKey(code), 7, time.Minute)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := s.take(tokenKey(code)); ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent redemptions of one code succeeded, want 1", wins.Load())
	}
	if len(code) != 43 || newSecret() == code {
		t.Fatal("secrets are not 256 random bits in base64url")
	}
}
