package subscribers

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/operator/state"
)

// TestPCRIndexSurvivesReopening: a PCR recorded for one SP resolves to its
// number after the store is closed and opened again (a node restart), and
// only for that SP.
func TestPCRIndexSurvivesReopening(t *testing.T) {
	s, file := openStore(t)
	m := mustMSISDN(t, validNumber)
	other := mustMSISDN(t, "+447400123457")

	// A store that never recorded a PCR (no bucket yet) answers not found.
	if _, err := s.LookupPCR("shop", "pcr-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup in an empty index: %v", err)
	}
	if err := s.RememberPCR("shop", "pcr-1", m); err != nil {
		t.Fatal(err)
	}
	if err := s.RememberPCR("bank", "pcr-2", other); err != nil {
		t.Fatal(err)
	}
	// Remembering the same thing again is harmless.
	if err := s.RememberPCR("shop", "pcr-1", m); err != nil {
		t.Fatal(err)
	}
	s2 := file.reopen(t)
	if got, err := s2.LookupPCR("shop", "pcr-1"); err != nil || got != m {
		t.Fatalf("after reopening: %s, %v; want %s", got, err, m)
	}
	if got, err := s2.LookupPCR("bank", "pcr-2"); err != nil || got != other {
		t.Fatalf("the other SP's PCR: %s, %v; want %s", got, err, other)
	}
	// Another SP presenting shop's PCR, or the client_id and PCR split
	// differently, finds nothing.
	for _, k := range [][2]string{{"bank", "pcr-1"}, {"sho", "ppcr-1"}, {"shop", "pcr-2"}} {
		if got, err := s2.LookupPCR(k[0], k[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("LookupPCR(%q, %q) = %s, %v; want not found", k[0], k[1], got, err)
		}
	}
}

// TestPCRIndexRefusesBadKeys: empty and oversized client_ids and PCRs are
// refused before any hashing or writing.
func TestPCRIndexRefusesBadKeys(t *testing.T) {
	s, _ := openStore(t)
	m := mustMSISDN(t, validNumber)
	long := strings.Repeat("x", maxPCRLen+1)
	for _, k := range [][2]string{{"", "pcr"}, {"shop", ""}, {long, "pcr"}, {"shop", long}} {
		if err := s.RememberPCR(k[0], k[1], m); !errors.Is(err, ErrBadPCRKey) {
			t.Errorf("RememberPCR(%.10q, %.10q): %v", k[0], k[1], err)
		}
		if _, err := s.LookupPCR(k[0], k[1]); !errors.Is(err, ErrBadPCRKey) {
			t.Errorf("LookupPCR(%.10q, %.10q): %v", k[0], k[1], err)
		}
	}
}

// TestPCRIndexOutlivesARecycledNumber documents what the gateway relies on:
// the index still names the number after the subscriber is deleted and the
// number given to someone new, but the new holder has a different secret,
// so a PCR recomputed from it never equals the old one. The secret is gone
// between deletion and re-creation.
func TestPCRIndexOutlivesARecycledNumber(t *testing.T) {
	s, _ := openStore(t)
	m := mustMSISDN(t, validNumber)
	if _, err := s.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	old, err := s.PCRSecret(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RememberPCR("shop", "old-owners-pcr", m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PCRSecret(m); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted subscriber's secret: %v", err)
	}
	if _, err := s.Create(Subscriber{MSISDN: m}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LookupPCR("shop", "old-owners-pcr"); err != nil || got != m {
		t.Fatalf("the index entry: %s, %v", got, err)
	}
	fresh, err := s.PCRSecret(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(fresh) == string(old) {
		t.Fatal("the new holder of a recycled number has the old holder's secret")
	}
}

// TestPCRIndexErrorNamesNoNumber: when recording a PCR fails (here the
// state store is closed), the error, which the gateway logs, says which
// client the PCR was for but not the subscriber's number: a log line must
// not link a PCR to an MSISDN.
func TestPCRIndexErrorNamesNoNumber(t *testing.T) {
	s, file := openStore(t)
	m := mustMSISDN(t, validNumber)
	if err := file.st.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.RememberPCR("shop", "pcr-1", m)
	if !errors.Is(err, state.ErrClosed) {
		t.Fatalf("recording a PCR in a closed store: %v", err)
	}
	digits := strings.TrimPrefix(validNumber, "+")
	if msg := err.Error(); strings.Contains(msg, digits) || !strings.Contains(msg, "shop") {
		t.Fatalf("the error %q names the number (or not the client)", msg)
	}
}
