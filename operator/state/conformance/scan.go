package conformance

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// scanKeys scans and returns the keys, failing on an error.
func scanKeys(t *testing.T, s state.Store, kind state.Kind, prefix, after string, limit int) []string {
	t.Helper()
	var p, a []byte
	if prefix != "" {
		p = []byte(prefix)
	}
	if after != "" {
		a = []byte(after)
	}
	es, err := s.Scan(bg, kind, p, a, limit)
	if err != nil {
		t.Fatalf("Scan(%s, %q, %q, %d): %v", kind, prefix, after, limit, err)
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = string(e.Key)
	}
	return keys
}

func wantKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("%s: keys %q, want %q", what, got, want)
	}
}

func testScan(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	// Put in an order that is not the key order.
	all := []string{"a", "a\x00", "a1", "a2", "a3", "a\xff", "a\xff\xff", "b", "b1", "\xff\xff"}
	for i := len(all) - 1; i >= 0; i-- {
		put(t, s, kindA, all[i], "v"+all[i], exp.Add(time.Duration(i)*time.Second))
	}
	put(t, s, kindB, "a9", "other kind", exp)

	es, err := s.Scan(bg, kindA, []byte("a"), nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 7 {
		t.Fatalf("Scan prefix a: %d entries, want 7", len(es))
	}
	for i, e := range es {
		if string(e.Key) != all[i] || string(e.Value) != "v"+all[i] || !e.Expires.Equal(exp.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("Scan entry %d = %q %q %v, want %q", i, e.Key, e.Value, e.Expires, all[i])
		}
	}
	wantKeys(t, "Scan without a prefix", scanKeys(t, s, kindA, "", "", 100), all...)
	wantKeys(t, "Scan prefix a\\xff", scanKeys(t, s, kindA, "a\xff", "", 100), "a\xff", "a\xff\xff")
	wantKeys(t, "Scan prefix \\xff", scanKeys(t, s, kindA, "\xff", "", 100), "\xff\xff")
	wantKeys(t, "Scan prefix \\xff\\xff", scanKeys(t, s, kindA, "\xff\xff", "", 100), "\xff\xff")
	wantKeys(t, "Scan prefix a1", scanKeys(t, s, kindA, "a1", "", 100), "a1")
	wantKeys(t, "Scan prefix b", scanKeys(t, s, kindA, "b", "", 100), "b", "b1")
	wantKeys(t, "Scan prefix c", scanKeys(t, s, kindA, "c", "", 100))
	wantKeys(t, "Scan of a kind never written", scanKeys(t, s, "conformance.unused", "", "", 100))
}

func testScanPaging(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	for _, k := range []string{"o9", "p00", "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "q0"} {
		put(t, s, kindA, k, "v", exp)
	}
	var pages [][]string
	after := ""
	for {
		page := scanKeys(t, s, kindA, "p", after, 3)
		pages = append(pages, page)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1]
		if len(pages) > 10 {
			t.Fatal("Scan paging does not end")
		}
	}
	if got := fmt.Sprintf("%q", pages); got != `[["p00" "p01" "p02"] ["p03" "p04" "p05"] ["p06" "p07" "p08"] ["p09"]]` {
		t.Fatalf("pages of 3: %s", got)
	}
	// Pages that fill exactly: the last is empty.
	wantKeys(t, "second page of 5", scanKeys(t, s, kindA, "p", "p04", 5), "p05", "p06", "p07", "p08", "p09")
	wantKeys(t, "third page of 5", scanKeys(t, s, kindA, "p", "p09", 5))
	// after need not be a key.
	wantKeys(t, "after a missing key", scanKeys(t, s, kindA, "p", "p035", 2), "p04", "p05")
}

func testScanExpired(t *testing.T, s state.Store, c *Clock) {
	for i := 0; i < 10; i++ {
		d := time.Hour
		if i%2 == 1 {
			d = time.Minute
		}
		put(t, s, kindA, fmt.Sprintf("s%d", i), "v", c.Now().Add(d))
	}
	c.Advance(time.Minute)
	// Expired records are skipped and do not count against the limit.
	wantKeys(t, "first page", scanKeys(t, s, kindA, "s", "", 3), "s0", "s2", "s4")
	wantKeys(t, "second page", scanKeys(t, s, kindA, "s", "s4", 3), "s6", "s8")
	wantKeys(t, "after an expired key", scanKeys(t, s, kindA, "s", "s5", 3), "s6", "s8")
}

func testScanEdges(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	for _, k := range []string{"l", "m", "m1", "m2", "n"} {
		put(t, s, kindA, k, "v", exp)
	}
	wantKeys(t, "after before the prefix", scanKeys(t, s, kindA, "m", "a", 10), "m", "m1", "m2")
	wantKeys(t, "after just before the prefix", scanKeys(t, s, kindA, "m", "l\xff", 10), "m", "m1", "m2")
	wantKeys(t, "after equal to the prefix", scanKeys(t, s, kindA, "m", "m", 10), "m1", "m2")
	wantKeys(t, "after past the prefix's keys", scanKeys(t, s, kindA, "m", "m3", 10))
	wantKeys(t, "after beyond the prefix", scanKeys(t, s, kindA, "m", "n", 10))
	wantKeys(t, "limit 1", scanKeys(t, s, kindA, "m", "", 1), "m")
	wantKeys(t, "limit 0", scanKeys(t, s, kindA, "m", "", 0))
	es, err := s.Scan(bg, kindA, []byte("m"), []byte{}, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("Scan with an empty, non-nil after = %d entries, %v; want 3", len(es), err)
	}
}

func testSweep(t *testing.T, s state.Store, c *Clock) {
	soon, later := c.Now().Add(time.Minute), c.Now().Add(time.Hour)
	for i := 0; i < 5; i++ {
		put(t, s, kindA, fmt.Sprintf("old%d", i), "v", soon)
	}
	for i := 0; i < 3; i++ {
		put(t, s, kindB, fmt.Sprintf("old%d", i), "v", soon)
	}
	for i := 0; i < 2; i++ {
		put(t, s, kindA, fmt.Sprintf("live%d", i), "v", later)
		put(t, s, kindB, fmt.Sprintf("live%d", i), "v", later)
	}
	if n, err := s.Sweep(bg, 100); err != nil || n != 0 {
		t.Fatalf("Sweep before expiry = %d, %v; want 0", n, err)
	}
	c.Advance(time.Minute)
	if n, err := s.Sweep(bg, 0); err != nil || n != 0 {
		t.Fatalf("Sweep(0) = %d, %v; want 0", n, err)
	}
	for i, want := range []int{3, 3, 2, 0} {
		n, err := s.Sweep(bg, 3)
		if err != nil || n != want {
			t.Fatalf("Sweep(3) #%d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	for _, k := range []state.Kind{kindA, kindB} {
		wantKeys(t, "after Sweep", scanKeys(t, s, k, "", "", 100), "live0", "live1")
	}
	// What Sweep removed is gone, not only invisible: Create finds the
	// keys free and a second Sweep finds nothing more.
	if err := s.Create(bg, kindA, []byte("old0"), []byte("again"), later); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(bg, 100); err != nil || n != 0 {
		t.Fatalf("Sweep after all swept = %d, %v", n, err)
	}
	wantRecord(t, s, kindA, "old0", "again", later)
}

// entriesEqual reports whether two scans returned the same entries.
func entriesEqual(a, b []state.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) || !a[i].Expires.Equal(b[i].Expires) {
			return false
		}
	}
	return true
}
