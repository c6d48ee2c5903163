package conformance

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// testSpend: counters are spent in order, each up to its limit; the first
// at its limit stops the spend, and it and the ones after it are left as
// they were; an expired counter counts 0; a counter named twice is spent
// twice; a count that does not parse fails the spend, which writes
// nothing; inputs are checked as Batch's are.
func testSpend(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	a, b, d := state.Counter{Kind: kindA, Key: []byte("a"), Limit: 2, Expires: exp},
		state.Counter{Kind: kindB, Key: []byte("b"), Limit: 1, Expires: exp.Add(time.Minute)},
		state.Counter{Kind: kindA, Key: []byte("d"), Limit: 5, Expires: exp}
	spend := func(want int, counters ...state.Counter) {
		t.Helper()
		if got, err := s.Spend(bg, counters...); err != nil || got != want {
			t.Fatalf("Spend: %d %v, want %d", got, err, want)
		}
	}
	spend(-1, a, b, d)
	wantRecord(t, s, kindA, "a", "1", exp)
	wantRecord(t, s, kindB, "b", "1", exp.Add(time.Minute))
	wantRecord(t, s, kindA, "d", "1", exp)
	spend(1, a, b, d) // b is at its limit: a spent, d not
	wantRecord(t, s, kindA, "a", "2", exp)
	wantRecord(t, s, kindB, "b", "1", exp.Add(time.Minute))
	wantRecord(t, s, kindA, "d", "1", exp)
	spend(0, a, b, d) // a is: nothing spent
	wantRecord(t, s, kindA, "a", "2", exp)
	wantRecord(t, s, kindA, "d", "1", exp)
	spend(-1, d, d) // twice
	wantRecord(t, s, kindA, "d", "3", exp)
	spend(2, d, d, d) // 4, 5, then at the limit
	wantRecord(t, s, kindA, "d", "5", exp)
	spend(0, state.Counter{Kind: kindA, Key: []byte("zero"), Expires: exp})
	wantAbsent(t, s, kindA, "zero")
	spend(-1)

	// Expired: counts 0, and is kept until the new expiry.
	put(t, s, kindA, "old", "9", c.Now().Add(time.Second))
	c.Advance(time.Minute)
	spend(-1, state.Counter{Kind: kindA, Key: []byte("old"), Limit: 1, Expires: exp})
	wantRecord(t, s, kindA, "old", "1", exp)

	// Not a count: an error, and the counter before it is not spent.
	put(t, s, kindA, "junk", "not a number", exp)
	if _, err := s.Spend(bg, state.Counter{Kind: kindA, Key: []byte("d"), Limit: 10, Expires: exp}, state.Counter{Kind: kindA, Key: []byte("junk"), Limit: 10, Expires: exp}); err == nil {
		t.Fatal("Spend over a value that is not a count succeeded")
	}
	wantRecord(t, s, kindA, "d", "5", exp)

	_, err := s.Spend(bg, state.Counter{Kind: "Bad Kind", Key: []byte("k"), Limit: 1, Expires: exp})
	wantErr(t, "Spend of a bad kind", err, state.ErrBadKind)
	_, err = s.Spend(bg, state.Counter{Kind: kindA, Limit: 1, Expires: exp})
	wantErr(t, "Spend of an empty key", err, state.ErrBadKey)
	many := make([]state.Counter, state.MaxBatch+1)
	for i := range many {
		many[i] = state.Counter{Kind: kindA, Key: []byte("m" + strconv.Itoa(i)), Limit: 1, Expires: exp}
	}
	_, err = s.Spend(bg, many...)
	wantErr(t, "Spend of too many counters", err, state.ErrTooLarge)
	wantAbsent(t, s, kindA, "m0")
}

// testConcurrentSpend: spenders at once of two counters, the second with
// few units: exactly that many spenders get through, every spender
// spends the first (its own budget spent, then the second's found
// empty), and none spends past a limit.
func testConcurrentSpend(t *testing.T, c *Clock, stores ...state.Store) {
	exp := c.Now().Add(time.Hour)
	const units = 10
	first := state.Counter{Kind: kindA, Key: []byte("first"), Limit: 1000, Expires: exp}
	last := state.Counter{Kind: kindB, Key: []byte("last"), Limit: units, Expires: exp}
	var mu sync.Mutex
	through, stopped := 0, 0
	race(updaters, func(i int) {
		got, err := stores[i%len(stores)].Spend(bg, first, last)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			t.Errorf("spender %d: %v", i, err)
		case got == -1:
			through++
		case got == 1:
			stopped++
		default:
			t.Errorf("spender %d stopped at counter %d", i, got)
		}
	})
	if through != units || stopped != updaters-units {
		t.Errorf("%d spenders got through, %d stopped at the second counter; want %d and %d", through, stopped, units, updaters-units)
	}
	wantRecord(t, stores[0], kindA, "first", strconv.Itoa(updaters), exp)
	wantRecord(t, stores[0], kindB, "last", strconv.Itoa(units), exp)
	// The last unit of a fresh counter: exactly one of the spenders.
	one := state.Counter{Kind: kindA, Key: []byte("one"), Limit: 1, Expires: exp}
	wins := 0
	race(takers, func(i int) {
		got, err := stores[i%len(stores)].Spend(bg, one)
		if err != nil {
			t.Errorf("spender %d: %v", i, err)
		}
		if err == nil && got == -1 {
			mu.Lock()
			wins++
			mu.Unlock()
		}
	})
	if wins != 1 {
		t.Errorf("%d spenders got the one unit, want 1", wins)
	}
}
