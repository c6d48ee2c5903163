package subscribers

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// TestMain stops the PostgreSQL cluster TestNodes may have started.
func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	validNumber   = "+447400123456"
	invalidNumber = "+447700900123" // Ofcom drama range: not a valid GB number
)

// stateFile is a real embedded state store in the test's directory, as a
// node keeps it (state.db), closed when the test ends.
type stateFile struct {
	path string
	st   *embedded.Store
}

func newStateFile(t testing.TB) *stateFile {
	t.Helper()
	f := &stateFile{path: filepath.Join(t.TempDir(), "state.db")}
	f.open(t)
	t.Cleanup(func() { f.st.Close() })
	return f
}

func (f *stateFile) open(t testing.TB) {
	t.Helper()
	st, err := embedded.Open(f.path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
}

// reopen closes the store and opens it again (a node restarting), with a
// subscriber store on it.
func (f *stateFile) reopen(t testing.TB) *Store {
	t.Helper()
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	return New(f.st)
}

func openStore(t testing.TB) (*Store, *stateFile) {
	t.Helper()
	f := newStateFile(t)
	return New(f.st), f
}

func mustMSISDN(t testing.TB, s string) MSISDN {
	t.Helper()
	m, err := parseMSISDN(s, "msisdn")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStoreLifecycle(t *testing.T) {
	s, file := openStore(t)
	m := mustMSISDN(t, validNumber)
	sub, err := s.Create(Subscriber{MSISDN: m, Attributes: Attributes{GivenName: "Ada", FamilyName: "Lovelace", Birthdate: "1990-12-10"}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != StatusActive || sub.Version != 1 || sub.CreatedAt.IsZero() {
		t.Fatalf("created %+v", sub)
	}
	if _, err := s.Create(Subscriber{MSISDN: m}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	secret, err := s.PCRSecret(m)
	if err != nil || len(secret) != SecretSize {
		t.Fatalf("secret %x, %v", secret, err)
	}
	if _, err := s.SetStatus(m, 1, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(m, 1, StatusActive); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale version: %v", err)
	}
	got, err := s.Patch(m, 2, []byte(`{"status":"active","attributes":{"email":"ada@example.com","birthdate":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusActive || got.Attributes.Email != "ada@example.com" || got.Attributes.Birthdate != "" || got.Attributes.GivenName != "Ada" || got.Version != 3 {
		t.Fatalf("patched %+v", got)
	}
	// A change that changes nothing keeps the version.
	if got, err = s.Patch(m, 3, []byte(`{"attributes":{"email":"ada@example.com"}}`)); err != nil || got.Version != 3 {
		t.Fatalf("no-op patch: %+v %v", got, err)
	}

	// Survives a restart.
	s2 := file.reopen(t)
	again, err := s2.Get(m)
	if err != nil || !same(&again, &got) {
		t.Fatalf("after reopen %+v %v, want %+v", again, err, got)
	}
	secret2, _ := s2.PCRSecret(m)
	if string(secret2) != string(secret) {
		t.Fatal("secret changed across reopen")
	}

	tomb, err := s2.Delete(m, 0)
	if err != nil || tomb.Status != StatusDeleted || tomb.Attributes != (Attributes{}) {
		t.Fatalf("delete: %+v %v", tomb, err)
	}
	if _, err := s2.PCRSecret(m); !errors.Is(err, ErrNotFound) {
		t.Fatalf("secret after delete: %v", err)
	}
	if _, err := s2.Update(m, 0, func(*Subscriber) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update tombstone: %v", err)
	}
	// A recycled number is a new subscriber with a new secret; versions go on.
	re, err := s2.Create(Subscriber{MSISDN: m})
	if err != nil || re.Version != tomb.Version+1 {
		t.Fatalf("recreate: %+v %v", re, err)
	}
	secret3, _ := s2.PCRSecret(m)
	if string(secret3) == string(secret) {
		t.Fatal("a recycled number reused the old PCR secret")
	}
}

func TestStoreValidation(t *testing.T) {
	s, _ := openStore(t)
	m := mustMSISDN(t, validNumber)
	for _, tc := range []struct {
		sub   Subscriber
		field string
	}{
		{Subscriber{MSISDN: mustMSISDN(t, invalidNumber)}, "msisdn"},
		{Subscriber{MSISDN: m, Attributes: Attributes{Birthdate: "1990-02-30"}}, "attributes.birthdate"},
		{Subscriber{MSISDN: m, Attributes: Attributes{Email: "nope"}}, "attributes.email"},
		{Subscriber{MSISDN: m, Attributes: Attributes{PhoneNumberAlternate: invalidNumber}}, "attributes.phone_number_alternate"},
		{Subscriber{MSISDN: m, Status: StatusDeleted}, "status"},
	} {
		_, err := s.Create(tc.sub)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: got %v, want an error on %s", tc.sub, err, tc.field)
		}
	}
}

func TestStoreListPaging(t *testing.T) {
	s, _ := openStore(t)
	const n = 250
	want := map[MSISDN]bool{}
	for i := range n {
		m := mustMSISDN(t, fmt.Sprintf("+4474001%05d", i))
		if _, err := s.Create(Subscriber{MSISDN: m}); err != nil {
			t.Fatal(err)
		}
		want[m] = true
	}
	// One suspended and one deleted: the default listing skips the deleted.
	if _, err := s.SetStatus(mustMSISDN(t, "+447400100003"), 0, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(mustMSISDN(t, "+447400100004"), 0); err != nil {
		t.Fatal(err)
	}
	delete(want, mustMSISDN(t, "+447400100004"))
	seen := map[MSISDN]bool{}
	var after MSISDN
	pages := 0
	for {
		page, next, err := s.List(ListOptions{After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, sub := range page {
			if seen[sub.MSISDN] || !want[sub.MSISDN] {
				t.Fatalf("unexpected or repeated %s", sub.MSISDN)
			}
			seen[sub.MSISDN] = true
		}
		if next == 0 {
			break
		}
		after = next
	}
	if len(seen) != len(want) || pages != (len(want)+6)/7 {
		t.Fatalf("saw %d of %d in %d pages", len(seen), len(want), pages)
	}
	sus, _, err := s.List(ListOptions{Status: StatusSuspended})
	if err != nil || len(sus) != 1 {
		t.Fatalf("suspended: %d %v", len(sus), err)
	}
	del, _, err := s.List(ListOptions{Status: StatusDeleted})
	if err != nil || len(del) != 1 {
		t.Fatalf("deleted: %d %v", len(del), err)
	}
}

func TestStoreConcurrent(t *testing.T) {
	s, _ := openStore(t)
	m := mustMSISDN(t, validNumber)
	if _, err := s.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers, writes = 8, 20
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				// Optimistic concurrency: retry on a version race.
				for {
					cur, err := s.Get(m)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.Patch(m, cur.Version, fmt.Appendf(nil, `{"attributes":{"title":"w%d-%d"}}`, w, i))
					if err == nil {
						break
					}
					if !errors.Is(err, ErrVersionMismatch) {
						t.Error(err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range writes * 2 {
				if _, _, err := s.List(ListOptions{}); err != nil {
					t.Error(err)
				}
				if _, err := s.Get(m); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Get(m)
	if err != nil || got.Version != 1+writers*writes {
		t.Fatalf("version %d, want %d (%v)", got.Version, 1+writers*writes, err)
	}
}
