package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/conformance"
	"github.com/mcfed/mcfed/operator/state/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// wide lets a pool open as many connections as the suite has concurrent
// callers (pgxpool's default is 4 on this machine), so that they meet in
// the database, not in the pool's queue.
func wide(t testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "50")
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, url string, now func() time.Time) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), wide(t, url), state.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, now func() time.Time) state.Store {
		return open(t, pgtest.Database(t), now)
	})
}

// TestConformanceNodes: two pools on one database are two nodes.
func TestConformanceNodes(t *testing.T) {
	conformance.RunNodes(t, func(t *testing.T, now func() time.Time) (state.Store, state.Store) {
		url := pgtest.Database(t)
		return open(t, url, now), open(t, url, now)
	})
}

// TestNodesSerializableDefault: a default isolation of serializable (the
// database's, a role's or the URL's) changes nothing: the store's
// connections use read committed. Under serializable, Take's and Create's
// losers got serialization failures instead of ErrNotFound and ErrExists.
func TestNodesSerializableDefault(t *testing.T) {
	conformance.RunNodes(t, func(t *testing.T, now func() time.Time) (state.Store, state.Store) {
		u, err := url.Parse(pgtest.Database(t))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("default_transaction_isolation", "serializable")
		u.RawQuery = q.Encode()
		return open(t, u.String(), now), open(t, u.String(), now)
	})
}

func schemaVersions(t *testing.T, url string) []int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT version FROM mcfed_state_schema ORDER BY version`)
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestMigrationsOnce: nodes opening one database at once, and again
// later, apply each schema version once, and all of them work.
func TestMigrationsOnce(t *testing.T) {
	url := pgtest.Database(t)
	const nodes = 4
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), url, state.Options{})
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	exp := time.Now().Add(time.Hour)
	if err := stores[0].Put(context.Background(), "t.k", []byte("k"), []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	if r, err := stores[nodes-1].Get(context.Background(), "t.k", []byte("k")); err != nil || string(r.Value) != "v" {
		t.Fatalf("Get on another node = %q, %v", r.Value, err)
	}
	again := open(t, url, nil)
	if _, err := again.Get(context.Background(), "t.k", []byte("k")); err != nil {
		t.Fatalf("after a reopen: %v", err)
	}
	if vs := schemaVersions(t, url); !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("schema versions %v, want [1 2]", vs)
	}
}

// TestSchemaNewer: a build does not write to a schema a newer build
// migrated.
func TestSchemaNewer(t *testing.T) {
	url := pgtest.Database(t)
	open(t, url, nil).Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO mcfed_state_schema (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, url, state.Options{})
	if !errors.Is(err, postgres.ErrSchemaNewer) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaNewer", err)
	}
}

// TestOpenRefuses: a URL that does not parse, or names no server, is an
// error at Open, and the message does not repeat the password.
func TestOpenRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, url := range []string{"postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", "postgres://u:secret@[::1/x"} {
		_, err := postgres.Open(ctx, url, state.Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", url)
		}
		if s := err.Error(); strings.Contains(s, "secret") {
			t.Fatalf("Open's error repeats the password: %s", s)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	url := pgtest.Database(b)
	conformance.Benchmark(b, func(b *testing.B) state.Store { return open(b, url, time.Now) }, pgtest.ServerCPU)
}
