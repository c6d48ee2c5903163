package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcfed/mcfed/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestDatabasesAreSeparate: each call gives a new, empty database, and a
// test's database is gone after it.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("first", func(t *testing.T) {
		first = pgtest.Database(t)
		if _, err := connect(t, first).Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
	})
	second := pgtest.Database(t)
	if second == first {
		t.Fatalf("the same database twice: %s", first)
	}
	conn := connect(t, second)
	_, err := conn.Exec(ctx, "SELECT * FROM t")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("the second database has the first's table: %v", err)
	}
	u, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", strings.TrimPrefix(u.Path, "/")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the first test's database is still there after it")
	}
}
