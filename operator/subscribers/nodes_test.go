package subscribers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/postgres"
)

// TestNodes runs each test of two gateway nodes of an operator sharing
// one state store on both backends: the embedded one (two subscriber
// stores on one store) and PostgreSQL (two pools on one database, as two
// nodes run; skipped when the machine has no PostgreSQL, see pgtest).
// st is the first node's state store, for tests that write it directly.
func TestNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, a, b *Store, st state.Store)
	}{
		{"SeeEachOthersWrites", testSeeEachOthersWrites},
		{"IfMatchOneWins", testIfMatchOneWins},
		{"SecretLeftBehindIsNotInherited", testSecretLeftBehindIsNotInherited},
		{"CorruptRecordFailsClosed", testCorruptRecordFailsClosed},
		{"BulkLoadBesideAnotherNodesWrites", testBulkLoadBesideAnotherNodesWrites},
	} {
		t.Run("embedded/"+tc.name, func(t *testing.T) {
			f := newStateFile(t)
			tc.test(t, New(f.st), New(f.st), f.st)
		})
		t.Run("postgres/"+tc.name, func(t *testing.T) {
			url := pgtest.Database(t)
			a, b := openPostgres(t, url), openPostgres(t, url)
			tc.test(t, New(a), New(b), a)
		})
	}
}

func openPostgres(t *testing.T, url string) state.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testSeeEachOthersWrites: what one node provisions, the other
// serves at once: the record, the PCR secret (the same one, whichever node
// asks first), the PCR index, the listing, a bulk load, a deletion.
func testSeeEachOthersWrites(t *testing.T, a, b *Store, _ state.Store) {
	m := mustMSISDN(t, validNumber)
	if _, err := a.Create(Subscriber{MSISDN: m, Attributes: Attributes{GivenName: "Ada"}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(m)
	if err != nil || got.Attributes.GivenName != "Ada" || got.Version != 1 {
		t.Fatalf("the other node reads %+v, %v", got, err)
	}
	if _, err := b.Create(Subscriber{MSISDN: m}); !errors.Is(err, ErrExists) {
		t.Fatalf("creating it again on the other node: %v", err)
	}
	if _, err := b.Patch(m, 1, []byte(`{"attributes":{"family_name":"Lovelace"}}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(m); err != nil || got.Attributes.FamilyName != "Lovelace" || got.Version != 2 {
		t.Fatalf("the first node reads %+v, %v", got, err)
	}

	// Both nodes ask for the secret at once, for its first use: one is
	// made, and both get it.
	var secrets [2][]byte
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			var err error
			if secrets[i], err = s.PCRSecret(m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(secrets[0]) != SecretSize || !bytes.Equal(secrets[0], secrets[1]) {
		t.Fatalf("the nodes have the secrets %x and %x", secrets[0], secrets[1])
	}

	if err := a.RememberPCR("shop", "pcr-1", m); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LookupPCR("shop", "pcr-1"); err != nil || got != m {
		t.Fatalf("the other node's PCR lookup: %s, %v", got, err)
	}

	if _, err := b.BulkLoad(strings.NewReader(csvFile(50)), FormatCSV); err != nil {
		t.Fatal(err)
	}
	page, _, err := a.List(ListOptions{Limit: MaxPageSize})
	if err != nil || len(page) != 51 {
		t.Fatalf("the first node lists %d, %v; want 51", len(page), err)
	}

	if _, err := a.Delete(m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PCRSecret(m); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the other node still has the deleted subscriber's secret: %v", err)
	}
	if _, err := b.Delete(m, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting it again on the other node: %v", err)
	}
}

// testIfMatchOneWins: both nodes change one subscriber at the same
// version at once, many times over: each time exactly one change is
// stored and the other is refused with ErrVersionMismatch, so no write is
// lost.
func testIfMatchOneWins(t *testing.T, a, b *Store, _ state.Store) {
	m := mustMSISDN(t, validNumber)
	if _, err := a.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	const rounds = 50
	for round := range rounds {
		cur, err := a.Get(m)
		if err != nil {
			t.Fatal(err)
		}
		var wins [2]bool
		var errs [2]error
		var wg sync.WaitGroup
		for i, s := range []*Store{a, b} {
			wg.Go(func() {
				patch := fmt.Appendf(nil, `{"attributes":{"title":"node%d-%d"}}`, i, round)
				_, errs[i] = s.Patch(m, cur.Version, patch)
				wins[i] = errs[i] == nil
			})
		}
		wg.Wait()
		if wins[0] == wins[1] {
			t.Fatalf("round %d: the nodes' results %v and %v; want exactly one to win", round, errs[0], errs[1])
		}
		loser := 0
		if wins[0] {
			loser = 1
		}
		if !errors.Is(errs[loser], ErrVersionMismatch) {
			t.Fatalf("round %d: the loser's error %v", round, errs[loser])
		}
		after, err := b.Get(m)
		if want := fmt.Sprintf("node%d-%d", 1-loser, round); err != nil || after.Version != cur.Version+1 || after.Attributes.Title != want {
			t.Fatalf("round %d: stored %+v, %v; want version %d with the title %s", round, after, err, cur.Version+1, want)
		}
	}
}

// testSecretLeftBehindIsNotInherited: a deletion that stored its
// tombstone but failed to destroy the secret (a crash between the two
// steps) leaves the secret unreachable, and the number's next holder gets
// a fresh one, the old one removed: made by Create or by a bulk load.
func testSecretLeftBehindIsNotInherited(t *testing.T, s, _ *Store, st state.Store) {
	m := mustMSISDN(t, validNumber)
	ctx := context.Background()
	for _, create := range []func() error{
		func() error { _, err := s.Create(Subscriber{MSISDN: m}); return err },
		func() error {
			_, err := s.BulkLoad(strings.NewReader("msisdn\n"+validNumber+"\n"), FormatCSV)
			return err
		},
	} {
		if _, err := s.Create(Subscriber{MSISDN: m}); err != nil {
			t.Fatal(err)
		}
		holder, err := s.Get(m)
		if err != nil {
			t.Fatal(err)
		}
		old, err := s.PCRSecret(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(m, 0); err != nil {
			t.Fatal(err)
		}
		// What the crash would have left: the holder's secret.
		if err := st.Put(ctx, kindSecret, secretKey(m, holder.Version), old, never); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PCRSecret(m); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a deleted subscriber's secret: %v", err)
		}
		if err := create(); err != nil {
			t.Fatal(err)
		}
		fresh, err := s.PCRSecret(m)
		if err != nil || bytes.Equal(fresh, old) {
			t.Fatalf("the new holder's secret %x (%v), the old %x", fresh, err, old)
		}
		if _, err := st.Get(ctx, kindSecret, secretKey(m, holder.Version)); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("the old holder's secret is still stored: %v", err)
		}
		if _, err := s.Delete(m, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// testCorruptRecordFailsClosed: a record this package did not write is an
// error wherever it is read, never a subscriber.
func testCorruptRecordFailsClosed(t *testing.T, s, _ *Store, st state.Store) {
	m := mustMSISDN(t, validNumber)
	ctx := context.Background()
	for _, v := range []string{`not json`, `{"s":"active","v":1}`, `{"s":"gone","v":1,"g":1}`, `{"s":"deleted","v":2,"g":1}`} {
		if err := st.Put(ctx, kindRecord, key(m), []byte(v), never); err != nil {
			t.Fatal(err)
		}
		if sub, err := s.Get(m); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Get gave %+v, %v", v, sub, err)
		}
		if _, err := s.PCRSecret(m); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: PCRSecret: %v", v, err)
		}
		if _, _, err := s.List(ListOptions{}); err == nil {
			t.Errorf("%s: List succeeded", v)
		}
		if _, err := s.SetStatus(m, 0, StatusSuspended); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: SetStatus: %v", v, err)
		}
	}
}

// testBulkLoadBesideAnotherNodesWrites: one node loads a feed that changes
// every subscriber while another node patches each of them: no write is
// lost, each subscriber ends with both changes counted in its version (a
// row worked out from a record read before the patch is worked out again).
func testBulkLoadBesideAnotherNodesWrites(t *testing.T, a, b *Store, _ state.Store) {
	const n = 300
	if _, err := a.BulkLoad(strings.NewReader(csvFile(n)), FormatCSV); err != nil {
		t.Fatal(err)
	}
	feed := strings.ReplaceAll(csvFile(n), ",Given", ",Other")
	var wg sync.WaitGroup
	wg.Go(func() {
		res, err := b.BulkLoad(strings.NewReader(feed), FormatCSV)
		if err != nil || res.Updated != n {
			t.Errorf("the feed: %+v, %v", res, err)
		}
	})
	wg.Go(func() {
		for i := range n {
			m := mustMSISDN(t, fmt.Sprintf("+4474001%05d", i))
			if _, err := a.Patch(m, 0, []byte(`{"attributes":{"email":"x@example.com"}}`)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	page, _, err := a.List(ListOptions{Limit: MaxPageSize})
	if err != nil || len(page) != n {
		t.Fatalf("%d subscribers, %v", len(page), err)
	}
	for _, sub := range page {
		if sub.Version != 3 || !strings.HasPrefix(sub.Attributes.GivenName, "Other") {
			t.Fatalf("%s at version %d named %q; want version 3 (created, fed, patched) and the feed's name",
				sub.MSISDN, sub.Version, sub.Attributes.GivenName)
		}
	}
}
