package subscribers

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// secretReads counts the state store's reads of PCR secrets.
type secretReads struct {
	state.Store
	n atomic.Int64
}

func (s *secretReads) Get(ctx context.Context, kind state.Kind, key []byte) (state.Record, error) {
	if kind == kindSecret {
		s.n.Add(1)
	}
	return s.Store.Get(ctx, kind, key)
}

// TestSecretReadOncePerNode: a node reads a holder's PCR secret from the
// store once, however many logins look the subscriber up; another node
// sharing the store that deletes the number and gives it to a new holder
// is seen at once: the first node answers the new holder's secret, never
// the one it read before.
func TestSecretReadOncePerNode(t *testing.T) {
	f := newStateFile(t)
	counted := &secretReads{Store: f.st}
	a, b := New(counted), New(f.st)
	m := mustMSISDN(t, validNumber)
	if _, err := a.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	first, err := a.PCRSecret(m)
	if err != nil {
		t.Fatal(err)
	}
	reads := counted.n.Load()
	for range 5 {
		if _, got, err := a.Lookup(context.Background(), m); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("lookup: %x %v, want %x", got, err, first)
		}
	}
	if n := counted.n.Load() - reads; n != 0 {
		t.Errorf("5 lookups read the secret %d times from the store, want 0 (read once before)", n)
	}
	if got, err := b.PCRSecret(m); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("the other node's secret: %x %v, want %x", got, err, first)
	}

	// The other node deletes the number and gives it to a new holder.
	if _, err := b.Delete(m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PCRSecret(m); err == nil {
		t.Fatal("a deleted subscriber's secret was answered")
	}
	if _, err := b.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	second, err := a.PCRSecret(m)
	if err != nil || bytes.Equal(second, first) {
		t.Fatalf("the new holder's secret: %x %v; the old one was %x", second, err, first)
	}
	if got, err := b.PCRSecret(m); err != nil || !bytes.Equal(got, second) {
		t.Fatalf("the other node's secret of the new holder: %x %v, want %x", got, err, second)
	}
}

// TestSecretCacheBounded: the cache holds at most two maps of
// secretCacheHalf secrets, and keeps the ones read most recently.
func TestSecretCacheBounded(t *testing.T) {
	var c secretCache
	key := func(i int) []byte { return secretKey(MSISDN(i), 1) }
	for i := range 3 * secretCacheHalf {
		c.add(key(i), []byte{byte(i)})
	}
	if n := len(c.cur) + len(c.prev); n > 2*secretCacheHalf {
		t.Fatalf("%d secrets kept, more than %d", n, 2*secretCacheHalf)
	}
	if _, ok := c.get(key(0)); ok {
		t.Error("the oldest secret is still kept")
	}
	last := 3*secretCacheHalf - 1
	if s, ok := c.get(key(last)); !ok || s[0] != byte(last) {
		t.Errorf("the newest secret: %v %v", s, ok)
	}
}

// TestSecretCacheEmptiesWhenUnused: a secret no login reads again leaves
// the node's memory within twice the cache's age, with no other read to
// push it out.
func TestSecretCacheEmptiesWhenUnused(t *testing.T) {
	c := &secretCache{age: 100 * time.Millisecond}
	a, b := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	c.add(a, []byte("secret a"))
	c.add(b, []byte("secret b"))
	if s, ok := c.get(a); !ok || string(s) != "secret a" {
		t.Fatalf("get right after add: %q %v", s, ok)
	}
	size := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.cur) + len(c.prev)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d secrets still kept long after the cache's age", size())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := c.get(a); ok {
		t.Error("a secret is answered after the cache emptied")
	}
}
