package conformance

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// calls runs every method of s with kind and key (and value where one is
// taken), returning each one's error by name. fn fails the test if
// Update calls it.
func calls(t *testing.T, s state.Store, kind state.Kind, key, value []byte, exp time.Time) map[string]error {
	errs := map[string]error{}
	errs["Put"] = s.Put(bg, kind, key, value, exp)
	errs["Create"] = s.Create(bg, kind, key, value, exp)
	_, errs["Get"] = s.Get(bg, kind, key)
	_, errs["Take"] = s.Take(bg, kind, key)
	_, errs["Update"] = s.Update(bg, kind, key, func(state.Record, bool) (state.Record, error) {
		t.Errorf("Update(%q, %q) called fn", kind, key)
		return state.Record{Value: value, Expires: exp}, nil
	})
	errs["Delete"] = s.Delete(bg, kind, key)
	return errs
}

func testCheck(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	for _, kind := range []state.Kind{"", "Upper", "a b", "a/b", "é", "a\x00", state.Kind(strings.Repeat("a", 65))} {
		for name, err := range calls(t, s, kind, []byte("k"), []byte("v"), exp) {
			wantErr(t, name+" with kind "+string(kind), err, state.ErrBadKind)
		}
		_, err := s.Scan(bg, kind, nil, nil, 10)
		wantErr(t, "Scan with kind "+string(kind), err, state.ErrBadKind)
	}
	for _, key := range [][]byte{nil, {}, make([]byte, state.MaxKeySize+1)} {
		for name, err := range calls(t, s, kindA, key, []byte("v"), exp) {
			wantErr(t, name+" with a key of "+strconv.Itoa(len(key))+" bytes", err, state.ErrBadKey)
		}
	}
	big := make([]byte, state.MaxValueSize+1)
	wantErr(t, "Put of a value over MaxValueSize", s.Put(bg, kindA, []byte("k"), big, exp), state.ErrTooLarge)
	wantErr(t, "Create of a value over MaxValueSize", s.Create(bg, kindA, []byte("k"), big, exp), state.ErrTooLarge)

	// Nothing was written by any of them.
	wantKeys(t, "after refused calls", scanKeys(t, s, kindA, "", "", 10))
}

// testLimits: what is just within state.Check's bounds is stored whole.
func testLimits(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	kind := state.Kind("abcdefghijklmnopqrstuvwxyz0123456789._-" + strings.Repeat("z", 64-39))
	key := bytes.Repeat([]byte{0xff}, state.MaxKeySize)
	value := bytes.Repeat([]byte("0123456789abcdef"), state.MaxValueSize/16)
	if err := s.Put(bg, kind, key, value, exp); err != nil {
		t.Fatalf("Put at the limits: %v", err)
	}
	wantRecord(t, s, kind, string(key), string(value), exp)
	r, err := s.Take(bg, kind, key)
	if err != nil || !bytes.Equal(r.Value, value) {
		t.Fatalf("Take at the limits: %d bytes, %v", len(r.Value), err)
	}
}

func testKindsSeparate(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	put(t, s, kindA, "k", "in a", exp)
	wantAbsent(t, s, kindB, "k")
	if err := s.Create(bg, kindB, []byte("k"), []byte("in b"), exp); err != nil {
		t.Fatalf("Create in b of a key live in a: %v", err)
	}
	wantRecord(t, s, kindA, "k", "in a", exp)
	wantRecord(t, s, kindB, "k", "in b", exp)

	if err := s.Delete(bg, kindA, []byte("k")); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, kindB, "k", "in b", exp)
	put(t, s, kindA, "k", "in a", exp)
	if _, err := s.Take(bg, kindB, []byte("k")); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, kindA, "k", "in a", exp)
	if _, err := s.Update(bg, kindB, []byte("k"), func(old state.Record, found bool) (state.Record, error) {
		if found {
			t.Errorf("Update in b found a's record %q", old.Value)
		}
		return state.Record{Value: []byte("b again"), Expires: exp}, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, s, kindA, "k", "in a", exp)
	wantKeys(t, "Scan of a", scanKeys(t, s, kindA, "", "", 10), "k")
	put(t, s, kindB, "k2", "v", exp)
	wantKeys(t, "Scan of b", scanKeys(t, s, kindB, "", "", 10), "k", "k2")
}

func testClosed(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	put(t, s, kindA, "k", "v", exp)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, err := range calls(t, s, kindA, []byte("k"), []byte("v"), exp) {
		wantErr(t, name+" after Close", err, state.ErrClosed)
	}
	_, err := s.Scan(bg, kindA, nil, nil, 10)
	wantErr(t, "Scan after Close", err, state.ErrClosed)
	_, err = s.Sweep(bg, 10)
	wantErr(t, "Sweep after Close", err, state.ErrClosed)
	_, err = s.Spend(bg, state.Counter{Kind: kindA, Key: []byte("c"), Limit: 1, Expires: exp})
	wantErr(t, "Spend after Close", err, state.ErrClosed)
	if err := s.Close(); err != nil && !errors.Is(err, state.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}
