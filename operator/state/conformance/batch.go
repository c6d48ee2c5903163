package conformance

import (
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// testBatch: a batch's puts and deletes apply in order, across kinds, and
// replace what was there; an empty batch is nothing; a batch Check would
// refuse an op of, or one of more than MaxBatch ops, writes none of its
// ops; after Close, ErrClosed.
func testBatch(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	put(t, s, kindA, "old", "was", exp)
	put(t, s, kindA, "gone", "was", exp)
	err := s.Batch(bg,
		state.Op{Kind: kindA, Key: []byte("old"), Value: []byte("new"), Expires: exp.Add(time.Minute)},
		state.Op{Kind: kindB, Key: []byte("b"), Value: []byte("in b"), Expires: exp},
		state.Op{Kind: kindA, Key: []byte("gone"), Delete: true},
		state.Op{Kind: kindA, Key: []byte("twice"), Value: []byte("first"), Expires: exp},
		state.Op{Kind: kindA, Key: []byte("twice"), Value: []byte("second"), Expires: exp},
		state.Op{Kind: kindA, Key: []byte("brief"), Value: []byte("x"), Expires: exp},
		state.Op{Kind: kindA, Key: []byte("brief"), Delete: true},
	)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	wantRecord(t, s, kindA, "old", "new", exp.Add(time.Minute))
	wantRecord(t, s, kindB, "b", "in b", exp)
	wantAbsent(t, s, kindA, "gone")
	wantRecord(t, s, kindA, "twice", "second", exp)
	wantAbsent(t, s, kindA, "brief")
	if err := s.Batch(bg); err != nil {
		t.Fatalf("an empty Batch: %v", err)
	}

	refused := []state.Op{
		{Kind: kindA, Key: []byte("never"), Value: []byte("v"), Expires: exp},
		{Kind: "Bad Kind", Key: []byte("k"), Value: []byte("v"), Expires: exp},
	}
	wantErr(t, "a Batch with a bad kind", s.Batch(bg, refused...), state.ErrBadKind)
	wantAbsent(t, s, kindA, "never")
	many := make([]state.Op, state.MaxBatch+1)
	for i := range many {
		many[i] = state.Op{Kind: kindA, Key: []byte{'m', byte(i)}, Value: []byte("v"), Expires: exp}
	}
	wantErr(t, "a Batch of too many ops", s.Batch(bg, many...), state.ErrTooLarge)
	wantAbsent(t, s, kindA, "m\x00")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Batch after Close", s.Batch(bg, state.Op{Kind: kindA, Key: []byte("k"), Value: []byte("v"), Expires: exp}), state.ErrClosed)
}

// testBatchDistinct: a batch whose ops are each on a key of its own, in
// no order (a backend may then write them as one statement, bulk): new
// records and replaced ones, an empty value, deletes of a record and of
// none, across kinds, all written.
func testBatchDistinct(t *testing.T, s state.Store, c *Clock) {
	exp := c.Now().Add(time.Hour)
	put(t, s, kindA, "m", "was", exp)
	put(t, s, kindB, "a", "was", exp)
	put(t, s, kindA, "expired", "was", c.Now().Add(time.Second))
	c.Advance(time.Minute)
	err := s.Batch(bg,
		state.Op{Kind: kindA, Key: []byte("z"), Value: []byte("new z"), Expires: exp},
		state.Op{Kind: kindB, Key: []byte("a"), Delete: true},
		state.Op{Kind: kindA, Key: []byte("m"), Value: []byte("new m"), Expires: exp.Add(time.Minute)},
		state.Op{Kind: kindA, Key: []byte("none"), Delete: true},
		state.Op{Kind: kindA, Key: []byte("empty"), Value: nil, Expires: exp},
		state.Op{Kind: kindA, Key: []byte("expired"), Value: []byte("again"), Expires: exp},
		state.Op{Kind: kindB, Key: []byte("z"), Value: []byte("b z"), Expires: exp},
	)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	wantRecord(t, s, kindA, "z", "new z", exp)
	wantAbsent(t, s, kindB, "a")
	wantRecord(t, s, kindA, "m", "new m", exp.Add(time.Minute))
	wantAbsent(t, s, kindA, "none")
	wantRecord(t, s, kindA, "empty", "", exp)
	wantRecord(t, s, kindA, "expired", "again", exp)
	wantRecord(t, s, kindB, "z", "b z", exp)
}
