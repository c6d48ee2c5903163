package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// The concurrency tests take one or more stores on one backing; caller i
// uses stores[i%len(stores)], so with two stores half the callers are on
// each node. All callers are released at once.

const (
	takers   = 32
	creators = 32
	updaters = 50
	readers  = 48
)

// race runs n callers of fn, released together, and waits for them.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// testConcurrentGet: readers at once, each of a key of its own (live,
// expired, absent) or of one key two read, each answered its own record
// (a backend may read the keys of reads that wait together in one
// statement), while writers change other keys.
func testConcurrentGet(t *testing.T, c *Clock, stores ...state.Store) {
	exp := c.Now().Add(time.Minute)
	for i := 0; i < readers; i++ {
		switch i % 4 {
		case 0, 1:
			put(t, stores[0], kindA, "r"+strconv.Itoa(i), "v"+strconv.Itoa(i), exp.Add(time.Duration(i)*time.Second))
		case 2:
			put(t, stores[0], kindA, "r"+strconv.Itoa(i), "old", c.Now().Add(time.Second))
		}
	}
	put(t, stores[0], kindB, "shared", "both", exp)
	c.Advance(2 * time.Second)
	for round := 0; round < 3; round++ {
		race(readers+8, func(i int) {
			s := stores[i%len(stores)]
			if i >= readers {
				if err := s.Put(bg, kindB, []byte("w"+strconv.Itoa(i)), []byte("x"), exp); err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
				return
			}
			key := "r" + strconv.Itoa(i)
			if i%8 == 7 {
				r, err := s.Get(bg, kindB, []byte("shared"))
				if err != nil || string(r.Value) != "both" || !r.Expires.Equal(exp) {
					t.Errorf("reader %d of the shared key: %q %v %v", i, r.Value, r.Expires, err)
				}
				return
			}
			r, err := s.Get(bg, kindA, []byte(key))
			switch i % 4 {
			case 0, 1:
				want := exp.Add(time.Duration(i) * time.Second)
				if err != nil || string(r.Value) != "v"+strconv.Itoa(i) || !r.Expires.Equal(want) {
					t.Errorf("reader %d: %q %v %v, want %q %v", i, r.Value, r.Expires, err, "v"+strconv.Itoa(i), want)
				}
			default: // expired, absent
				if !errors.Is(err, state.ErrNotFound) {
					t.Errorf("reader %d of an expired or absent key: %q %v, want ErrNotFound", i, r.Value, err)
				}
			}
		})
	}
}

func testConcurrentTake(t *testing.T, c *Clock, stores ...state.Store) {
	exp := c.Now().Add(time.Minute)
	for round := 0; round < 5; round++ {
		key := []byte(fmt.Sprintf("code%d", round))
		if err := stores[0].Put(bg, kindA, key, []byte("grant"), exp); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		wins := 0
		race(takers, func(i int) {
			r, err := stores[i%len(stores)].Take(bg, kindA, key)
			switch {
			case err == nil:
				if string(r.Value) != "grant" {
					t.Errorf("taker %d got %q", i, r.Value)
				}
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, state.ErrNotFound):
				t.Errorf("taker %d: %v", i, err)
			}
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of %d takers got the record, want exactly 1", round, wins, takers)
		}
		for _, s := range stores {
			wantAbsent(t, s, kindA, string(key))
		}
	}
}

func testConcurrentCreate(t *testing.T, c *Clock, stores ...state.Store) {
	exp := c.Now().Add(time.Minute)
	for round := 0; round < 3; round++ {
		key := []byte(fmt.Sprintf("once%d", round))
		if round == 2 {
			// Over an expired record, which every creator sees as free.
			if err := stores[0].Put(bg, kindA, key, []byte("expired"), c.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		winner := -1
		wins := 0
		race(creators, func(i int) {
			err := stores[i%len(stores)].Create(bg, kindA, key, []byte(strconv.Itoa(i)), exp)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				winner = i
				mu.Unlock()
			case !errors.Is(err, state.ErrExists):
				t.Errorf("creator %d: %v", i, err)
			}
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of %d creators succeeded, want exactly 1", round, wins, creators)
		}
		for _, s := range stores {
			wantRecord(t, s, kindA, string(key), strconv.Itoa(winner), exp)
		}
	}
}

func testConcurrentUpdate(t *testing.T, c *Clock, stores ...state.Store) {
	exp := c.Now().Add(time.Minute)
	key := []byte("counter")
	var mu sync.Mutex
	seen := map[string]bool{}
	race(updaters, func(i int) {
		r, err := stores[i%len(stores)].Update(bg, kindA, key, func(old state.Record, found bool) (state.Record, error) {
			n := 0
			if found {
				var err error
				if n, err = strconv.Atoi(string(old.Value)); err != nil {
					return state.Record{}, err
				}
			}
			return state.Record{Value: []byte(strconv.Itoa(n + 1)), Expires: exp}, nil
		})
		if err != nil {
			t.Errorf("updater %d: %v", i, err)
			return
		}
		mu.Lock()
		seen[string(r.Value)] = true
		mu.Unlock()
	})
	for _, s := range stores {
		wantRecord(t, s, kindA, string(key), strconv.Itoa(updaters), exp)
	}
	// Each Update stored its own value: none read what another was
	// about to replace.
	if len(seen) != updaters {
		t.Fatalf("the %d Updates returned %d distinct counts", updaters, len(seen))
	}
}

func testNodesVisibility(t *testing.T, c *Clock, a, b state.Store) {
	exp := c.Now().Add(time.Hour)
	put(t, a, kindA, "k", "from a", exp)
	wantRecord(t, b, kindA, "k", "from a", exp)
	wantErr(t, "Create on b of a key a put", b.Create(bg, kindA, []byte("k"), []byte("b"), exp), state.ErrExists)
	if _, err := b.Update(bg, kindA, []byte("k"), func(old state.Record, found bool) (state.Record, error) {
		if !found || string(old.Value) != "from a" {
			t.Errorf("Update on b: found %v, %q", found, old.Value)
		}
		return state.Record{Value: []byte("from b"), Expires: exp}, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, a, kindA, "k", "from b", exp)
	if _, err := a.Take(bg, kindA, []byte("k")); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, b, kindA, "k")
	put(t, b, kindA, "k2", "v", exp)
	if err := a.Delete(bg, kindA, []byte("k2")); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, b, kindA, "k2")

	put(t, a, kindA, "s1", "v", exp)
	put(t, b, kindA, "s2", "v", exp)
	ea, err := a.Scan(bg, kindA, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.Scan(bg, kindA, nil, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ea) != 2 || !entriesEqual(ea, eb) {
		t.Fatalf("the nodes scan %d and %d entries, want the same 2", len(ea), len(eb))
	}

	// One node's Close leaves the other working.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, b, kindA, "s1", "v", exp)
}

func testNodesSweep(t *testing.T, c *Clock, a, b state.Store) {
	for i := 0; i < 4; i++ {
		put(t, a, kindA, fmt.Sprintf("old%d", i), "v", c.Now().Add(time.Minute))
	}
	put(t, a, kindA, "live", "v", c.Now().Add(time.Hour))
	c.Advance(time.Minute)
	// Both sweep at once: each record is removed, and counted, once.
	var na, nb int
	var ea, eb error
	race(2, func(i int) {
		if i == 0 {
			na, ea = a.Sweep(bg, 100)
		} else {
			nb, eb = b.Sweep(bg, 100)
		}
	})
	if ea != nil || eb != nil || na+nb != 4 {
		t.Fatalf("concurrent Sweeps = %d, %v and %d, %v; want 4 removed in all", na, ea, nb, eb)
	}
	wantKeys(t, "after Sweep", scanKeys(t, b, kindA, "", "", 10), "live")
}
