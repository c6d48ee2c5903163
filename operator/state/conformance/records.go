package conformance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

func testPutGet(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	wantAbsent(t, s, kindA, "k1")
	put(t, s, kindA, "k1", "v1", exp)
	put(t, s, kindA, "k2", "v2", exp.Add(time.Minute))
	wantRecord(t, s, kindA, "k1", "v1", exp)
	wantRecord(t, s, kindA, "k2", "v2", exp.Add(time.Minute))

	// Put replaces value and expiry, over a live record and over an
	// expired one.
	exp2 := c.Now().Add(2 * time.Hour)
	put(t, s, kindA, "k1", "v1bis", exp2)
	wantRecord(t, s, kindA, "k1", "v1bis", exp2)
	put(t, s, kindA, "k3", "old", c.Now().Add(time.Second))
	c.Advance(time.Second)
	put(t, s, kindA, "k3", "new", exp2)
	wantRecord(t, s, kindA, "k3", "new", exp2)

	// An empty value is a value.
	put(t, s, kindA, "empty", "", exp)
	wantRecord(t, s, kindA, "empty", "", exp)
}

func testBinary(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	keys := []string{"\x00", "\x00\x00", "a\x00b", "\xff", "\xff\xff\xff", "\x80 \x7f"}
	for i, k := range keys {
		put(t, s, kindA, k, string([]byte{0, byte(i), 0xff, '\'', '\\'}), exp)
	}
	for i, k := range keys {
		wantRecord(t, s, kindA, k, string([]byte{0, byte(i), 0xff, '\'', '\\'}), exp)
	}
}

func testExpiry(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	for _, k := range []string{"get", "take", "update", "create"} {
		put(t, s, kindA, k, "v", exp)
	}
	c.Advance(time.Minute - time.Nanosecond)
	wantRecord(t, s, kindA, "get", "v", exp)

	// Live until Expires: at Expires the record is gone for every reader.
	c.Advance(time.Nanosecond)
	wantAbsent(t, s, kindA, "get")
	_, err := s.Take(bg, kindA, []byte("take"))
	wantErr(t, "Take of an expired record", err, state.ErrNotFound)
	_, err = s.Update(bg, kindA, []byte("update"), func(old state.Record, found bool) (state.Record, error) {
		if found || old.Value != nil || !old.Expires.IsZero() {
			t.Errorf("Update of an expired record: fn got %q, %v, found %v; want zero, false", old.Value, old.Expires, found)
		}
		return state.Record{Value: []byte("u"), Expires: c.Now().Add(time.Hour)}, nil
	})
	if err != nil {
		t.Fatalf("Update over an expired record: %v", err)
	}
	wantRecord(t, s, kindA, "update", "u", c.Now().Add(time.Hour))

	// A record put with an expiry already past is never seen.
	put(t, s, kindA, "past", "v", c.Now().Add(-time.Second))
	wantAbsent(t, s, kindA, "past")
	put(t, s, kindA, "now", "v", c.Now())
	wantAbsent(t, s, kindA, "now")
}

// testExpiresRoundTrip: Expires comes back to the nanosecond, and times
// outside int64 nanoseconds (before 1678, after 2262) keep their side of
// now.
func testExpiresRoundTrip(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour + 123456789*time.Nanosecond)
	put(t, s, kindA, "ns", "v", exp)
	wantRecord(t, s, kindA, "ns", "v", exp)
	if r, _ := s.Get(bg, kindA, []byte("ns")); !r.Expires.Equal(exp) {
		t.Fatalf("Expires %v, want %v", r.Expires, exp)
	}

	put(t, s, kindA, "zero", "v", time.Time{})
	wantAbsent(t, s, kindA, "zero")
	put(t, s, kindA, "1600", "v", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC))
	wantAbsent(t, s, kindA, "1600")
	put(t, s, kindA, "3000", "v", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := s.Get(bg, kindA, []byte("3000"))
	if err != nil {
		t.Fatalf("a record expiring in the year 3000: %v", err)
	}
	if r.Expires.Before(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a record expiring in the year 3000 expires %v", r.Expires)
	}
	if n, err := s.Sweep(bg, 100); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want the 2 records of 1600 and year 1", n, err)
	}
	if _, err := s.Get(bg, kindA, []byte("3000")); err != nil {
		t.Fatalf("after Sweep, the year 3000 record: %v", err)
	}
}

func testCreate(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	if err := s.Create(bg, kindA, []byte("k"), []byte("first"), exp); err != nil {
		t.Fatalf("Create of a new key: %v", err)
	}
	wantRecord(t, s, kindA, "k", "first", exp)
	err := s.Create(bg, kindA, []byte("k"), []byte("second"), exp.Add(time.Hour))
	wantErr(t, "Create over a live record", err, state.ErrExists)
	wantRecord(t, s, kindA, "k", "first", exp)

	// An expired record, swept or not, leaves the key free.
	c.Advance(time.Minute)
	exp2 := c.Now().Add(time.Minute)
	if err := s.Create(bg, kindA, []byte("k"), []byte("third"), exp2); err != nil {
		t.Fatalf("Create over an expired record: %v", err)
	}
	wantRecord(t, s, kindA, "k", "third", exp2)

	// After Delete and Take the key is free too.
	if err := s.Delete(bg, kindA, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(bg, kindA, []byte("k"), []byte("fourth"), exp2); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	if _, err := s.Take(bg, kindA, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(bg, kindA, []byte("k"), []byte("fifth"), exp2); err != nil {
		t.Fatalf("Create after Take: %v", err)
	}
	wantRecord(t, s, kindA, "k", "fifth", exp2)
}

func testTake(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	put(t, s, kindA, "code", "grant", exp)
	r, err := s.Take(bg, kindA, []byte("code"))
	if err != nil || string(r.Value) != "grant" || !r.Expires.Equal(exp) {
		t.Fatalf("Take = %q, %v, %v; want grant, %v", r.Value, r.Expires, err, exp)
	}
	_, err = s.Take(bg, kindA, []byte("code"))
	wantErr(t, "second Take", err, state.ErrNotFound)
	wantAbsent(t, s, kindA, "code")
	_, err = s.Take(bg, kindA, []byte("never"))
	wantErr(t, "Take of an absent key", err, state.ErrNotFound)
}

func testUpdateUpsert(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	calls := 0
	r, err := s.Update(bg, kindA, []byte("n"), func(old state.Record, found bool) (state.Record, error) {
		calls++
		if found || len(old.Value) != 0 || !old.Expires.IsZero() {
			t.Errorf("Update of an absent key: fn got %q, %v, found %v; want zero, false", old.Value, old.Expires, found)
		}
		return state.Record{Value: []byte("1"), Expires: exp}, nil
	})
	if err != nil || string(r.Value) != "1" || !r.Expires.Equal(exp) {
		t.Fatalf("Update inserting = %q, %v, %v", r.Value, r.Expires, err)
	}
	if calls < 1 {
		t.Fatal("fn not called")
	}
	wantRecord(t, s, kindA, "n", "1", exp)

	exp2 := exp.Add(time.Hour)
	r, err = s.Update(bg, kindA, []byte("n"), func(old state.Record, found bool) (state.Record, error) {
		if !found || string(old.Value) != "1" || !old.Expires.Equal(exp) {
			t.Errorf("Update of a live record: fn got %q, %v, found %v; want 1, %v, true", old.Value, old.Expires, found, exp)
		}
		return state.Record{Value: append(old.Value, '2'), Expires: exp2}, nil
	})
	if err != nil || string(r.Value) != "12" || !r.Expires.Equal(exp2) {
		t.Fatalf("Update replacing = %q, %v, %v", r.Value, r.Expires, err)
	}
	wantRecord(t, s, kindA, "n", "12", exp2)
}

var errFn = errors.New("fn refuses")

func testUpdateFnError(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	_, err := s.Update(bg, kindA, []byte("absent"), func(state.Record, bool) (state.Record, error) {
		return state.Record{Value: []byte("x"), Expires: exp}, errFn
	})
	wantErr(t, "Update whose fn fails, absent key", err, errFn)
	wantAbsent(t, s, kindA, "absent")

	put(t, s, kindA, "live", "v", exp)
	_, err = s.Update(bg, kindA, []byte("live"), func(state.Record, bool) (state.Record, error) {
		return state.Record{Value: []byte("x"), Expires: exp.Add(time.Hour)}, errFn
	})
	wantErr(t, "Update whose fn fails, live key", err, errFn)
	wantRecord(t, s, kindA, "live", "v", exp)
}

func testUpdateRemoves(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	for _, when := range []time.Duration{0, -time.Second} {
		put(t, s, kindA, "k", "v", exp)
		_, err := s.Update(bg, kindA, []byte("k"), func(old state.Record, found bool) (state.Record, error) {
			return state.Record{Value: []byte("gone"), Expires: c.Now().Add(when)}, nil
		})
		if err != nil {
			t.Fatalf("Update removing (expiry now%+v): %v", when, err)
		}
		wantAbsent(t, s, kindA, "k")
		// Removed, not merely expired: a Sweep finds nothing.
		if n, err := s.Sweep(bg, 10); err != nil || n != 0 {
			t.Fatalf("Sweep after a removing Update = %d, %v; want 0", n, err)
		}
	}
	// Removing an absent key writes nothing and is not an error.
	_, err := s.Update(bg, kindA, []byte("absent"), func(state.Record, bool) (state.Record, error) {
		return state.Record{}, nil
	})
	if err != nil {
		t.Fatalf("Update returning a zero record for an absent key: %v", err)
	}
	wantAbsent(t, s, kindA, "absent")
}

func testUpdateRefuses(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	put(t, s, kindA, "k", "v", exp)
	_, err := s.Update(bg, kindA, []byte("k"), func(state.Record, bool) (state.Record, error) {
		return state.Record{Value: make([]byte, state.MaxValueSize+1), Expires: exp}, nil
	})
	wantErr(t, "Update storing a value over MaxValueSize", err, state.ErrTooLarge)
	wantRecord(t, s, kindA, "k", "v", exp)
}

func testDelete(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	put(t, s, kindA, "k", "v", exp)
	put(t, s, kindA, "k2", "v", exp)
	for i := 0; i < 2; i++ {
		if err := s.Delete(bg, kindA, []byte("k")); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		wantAbsent(t, s, kindA, "k")
	}
	if err := s.Delete(bg, kindA, []byte("never")); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	if err := s.Delete(bg, "conformance.unused", []byte("never")); err != nil {
		t.Fatalf("Delete in a kind never written: %v", err)
	}
	wantRecord(t, s, kindA, "k2", "v", exp)
}

// testCopies: the store keeps no slice of its caller's, and hands out none
// of its own.
func testCopies(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Minute)
	key, value := []byte("key"), []byte("value")
	if err := s.Put(bg, kindA, key, value, exp); err != nil {
		t.Fatal(err)
	}
	copy(key, "XXX")
	copy(value, "XXXXX")
	wantRecord(t, s, kindA, "key", "value", exp)

	r, err := s.Get(bg, kindA, []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Value, "YYYYY")
	wantRecord(t, s, kindA, "key", "value", exp)

	es, err := s.Scan(bg, kindA, nil, nil, 10)
	if err != nil || len(es) != 1 {
		t.Fatalf("Scan = %d entries, %v", len(es), err)
	}
	copy(es[0].Key, "ZZZ")
	copy(es[0].Value, "ZZZZZ")
	wantRecord(t, s, kindA, "key", "value", exp)

	cv := []byte("created")
	if err := s.Create(bg, kindA, []byte("c"), cv, exp); err != nil {
		t.Fatal(err)
	}
	copy(cv, "XXXXXXX")
	wantRecord(t, s, kindA, "c", "created", exp)

	var kept []byte
	if _, err := s.Update(bg, kindA, []byte("key"), func(old state.Record, _ bool) (state.Record, error) {
		copy(old.Value, "WWWWW") // fn's copy is its own
		kept = []byte("updated")
		return state.Record{Value: kept, Expires: exp}, nil
	}); err != nil {
		t.Fatal(err)
	}
	copy(kept, "XXXXXXX")
	wantRecord(t, s, kindA, "key", "updated", exp)

	r, err = s.Take(bg, kindA, []byte("key"))
	if err != nil || !bytes.Equal(r.Value, []byte("updated")) {
		t.Fatalf("Take = %q, %v", r.Value, err)
	}
}
