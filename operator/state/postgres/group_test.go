package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/state"
)

// blocked opens a store on a new database, whose table refuses the value
// "poison", and holds, from another
// connection, the lock of a record the store's next write waits for; that
// write is then in flight, and the writes after it wait together for the
// next pipeline. release lets the first write go on, and returns its
// error.
func blocked(t *testing.T) (s *Store, release func() error) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.Database(t)
	s, err := Open(ctx, url, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	// A record the database refuses, for a failing statement (added
	// first: it waits for the table's lock).
	if _, err := admin.Exec(ctx, `ALTER TABLE mcfed_state ADD CONSTRAINT no_poison CHECK (value <> 'poison'::bytea)`); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := s.Put(ctx, "t.k", []byte("block"), []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close(context.Background()) })
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM mcfed_state WHERE kind = 't.k' AND key = 'block' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- s.Put(ctx, "t.k", []byte("block"), []byte("w"), exp) }()
	// The first write is in flight when the database shows it waiting
	// for the lock.
	waitFor(t, func() bool {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n == 1
	})
	return s, func() error {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return <-first
	}
}

// waitFor waits until cond holds, for at most 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		runtime.Gosched()
	}
}

func (g *group) waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// TestGroupFailureIsolated: writes that wait together go as one
// pipeline, one transaction; when one of them fails, the others are
// written all the same, and only the failing one's caller hears of it.
func TestGroupFailureIsolated(t *testing.T) {
	s, release := blocked(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	const n = 10
	errs := make(chan error, n+1)
	for i := range n {
		go func() { errs <- s.Put(ctx, "t.k", fmt.Appendf(nil, "good-%d", i), []byte("v"), exp) }()
	}
	poisoned := make(chan error, 1)
	go func() { poisoned <- s.Put(ctx, "t.k", []byte("bad"), []byte("poison"), exp) }()
	waitFor(t, func() bool { return s.writes.waiting() == n+1 })
	if err := release(); err != nil {
		t.Fatalf("the first write: %v", err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a good write failed with the bad one: %v", err)
		}
	}
	if err := <-poisoned; err == nil {
		t.Fatal("the refused write succeeded")
	}
	for i := range n {
		if _, err := s.Get(ctx, "t.k", fmt.Appendf(nil, "good-%d", i)); err != nil {
			t.Fatalf("good-%d: %v", i, err)
		}
	}
	if _, err := s.Get(ctx, "t.k", []byte("bad")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("the refused record: %v, want ErrNotFound", err)
	}
}

// TestGroupAbandoned: a write whose caller gives up before it is sent is
// not written.
func TestGroupAbandoned(t *testing.T) {
	s, release := blocked(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "t.k", []byte("abandoned"), []byte("v"), time.Now().Add(time.Hour)) }()
	waitFor(t, func() bool { return s.writes.waiting() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// The pipeline after the first has run (or had nothing to run) when a
	// write after it is done.
	if err := s.Put(context.Background(), "t.k", []byte("later"), []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "t.k", []byte("abandoned")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("the abandoned record: %v, want ErrNotFound", err)
	}
}
