// Package pgtest gives a test a fresh PostgreSQL database.
//
// The server is, in order: the one MCFED_TEST_POSTGRES names (a
// postgres:// URL of a role that may create databases); else a throw-away
// cluster this test binary starts from the PostgreSQL binaries it finds
// (initdb and pg_ctl on PATH, or Debian's /usr/lib/postgresql/*/bin) in a
// temporary directory, listening on 127.0.0.1 on a port picked free and on
// a unix socket in that directory, and stops when the tests end; else
// none, and the test is skipped with the reason, or fails when
// MCFED_REQUIRE_POSTGRES=1 (CI). A test binary that uses it calls Main
// from its TestMain, which stops the cluster.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	mainCalled atomic.Bool
	once       sync.Once
	server     string // admin URL
	serverErr  error  // why there is none
	skippable  bool   // serverErr means "no PostgreSQL here", not a failure
	local      *cluster
	counter    atomic.Int64
)

// Main runs the tests and stops the cluster it started, if any. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that does more after the tests: it runs
// them, stops the cluster it started, and returns m.Run's code.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	if local != nil {
		if err := local.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// Database returns the URL of a new, empty database, dropped when t ends.
// With no PostgreSQL to use it skips t, or fails it under
// MCFED_REQUIRE_POSTGRES=1.
func Database(t testing.TB) string {
	t.Helper()
	once.Do(setUp)
	if serverErr != nil {
		if skippable && os.Getenv("MCFED_REQUIRE_POSTGRES") != "1" {
			t.Skipf("pgtest: no PostgreSQL (%v); set MCFED_TEST_POSTGRES to a postgres:// URL or install PostgreSQL's server binaries", serverErr)
		}
		t.Fatalf("pgtest: %v", serverErr)
	}
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("mcfed_test_%d_%d_%s", os.Getpid(), counter.Add(1), hex.EncodeToString(b[:]))
	if err := admin(fmt.Sprintf("CREATE DATABASE %s", pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("pgtest: creating a database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE ends what is still connected to this test's own
		// database, so that a leaked pool cannot make the drop wait.
		if err := admin(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// setUp finds or starts the server, once per test binary.
func setUp() {
	if s := os.Getenv("MCFED_TEST_POSTGRES"); s != "" {
		if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
			serverErr = errors.New("MCFED_TEST_POSTGRES is not a postgres:// URL")
			return
		}
		server = s
		return
	}
	bin, err := findBinaries()
	if err != nil {
		serverErr, skippable = err, true
		return
	}
	if !mainCalled.Load() {
		serverErr = errors.New("the test binary starts a PostgreSQL cluster but does not stop it: call pgtest.Main(m) from TestMain")
		return
	}
	c, err := startCluster(bin)
	if err != nil {
		var nr errNoRunAs
		if errors.As(err, &nr) {
			serverErr, skippable = err, true
			return
		}
		serverErr = err
		return
	}
	local = c
	server = c.url
}

// admin runs one statement on the server's maintenance database.
func admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
