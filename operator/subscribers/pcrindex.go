package subscribers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mcfed/mcfed/operator/state"
)

// The PCR index (kindPCR) maps (client_id, PCR) to the number the PCR was
// issued for. A PCR is an HMAC of the subscriber's secret and cannot be
// reversed, so the gateway records each one it hands out to be able to
// resolve a later login_hint=PCR:<pcr>.

// Bounds on what the index accepts, so a hostile hint cannot make the
// gateway hash megabytes.
const (
	maxPCRClientIDLen = 2048
	maxPCRLen         = 2048
)

// ErrBadPCRKey: an empty or oversized client_id or PCR.
var ErrBadPCRKey = errors.New("client_id and PCR must be non-empty and at most 2048 bytes")

// pcrKey is the index key: a hash of the length-prefixed client_id and the
// PCR. Hashing keeps keys one size whatever the client_id, and the length
// prefix keeps ("a", "bc") apart from ("ab", "c").
func pcrKey(clientID, pcr string) ([]byte, error) {
	if clientID == "" || pcr == "" || len(clientID) > maxPCRClientIDLen || len(pcr) > maxPCRLen {
		return nil, ErrBadPCRKey
	}
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("mcfed-pcr-index\x00"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(clientID)))])
	h.Write([]byte(clientID))
	h.Write([]byte(pcr))
	return h.Sum(nil), nil
}

// RememberPCR records that clientID received pcr as the sub of subscriber m.
// A repeat of what is already recorded writes nothing, so the gateway can
// call it on every login without a write each time.
func (s *Store) RememberPCR(clientID, pcr string, m MSISDN) error {
	ctx := context.Background()
	ops, err := s.RememberPCROps(ctx, clientID, pcr, m)
	if err == nil && len(ops) > 0 {
		err = s.st.Batch(ctx, ops...)
	}
	if err != nil {
		// Not the number: the gateway logs this error, and a log line must
		// not tie a client's PCR to a subscriber's MSISDN.
		return fmt.Errorf("recording a PCR for client %q: %w", clientID, err)
	}
	return nil
}

// RememberPCROps are the writes RememberPCR would make, for a caller
// that writes them with its own in one step of the store (the gateway,
// with the login's code): none when the index holds the entry already,
// which is read to know.
func (s *Store) RememberPCROps(ctx context.Context, clientID, pcr string, m MSISDN) ([]state.Op, error) {
	k, err := pcrKey(clientID, pcr)
	if err != nil {
		return nil, err
	}
	v := key(m)
	rec, err := s.st.Get(ctx, kindPCR, k)
	switch {
	case err == nil && bytes.Equal(rec.Value, v):
		return nil, nil
	case err != nil && !errors.Is(err, state.ErrNotFound):
		return nil, fmt.Errorf("reading a PCR for client %q: %w", clientID, err)
	}
	// A plain Put: every node records the same number for one key (the
	// PCR is derived from it), so there is no race to lose.
	return []state.Op{{Kind: kindPCR, Key: k, Value: v, Expires: never}}, nil
}

// LookupPCR returns the number clientID's pcr was recorded for, or
// ErrNotFound. The index only says which number the PCR was once issued
// for: the number may since have been deleted and given to someone else, so
// the caller must recompute the PCR from the subscriber's current secret
// before trusting the answer.
func (s *Store) LookupPCR(clientID, pcr string) (MSISDN, error) {
	k, err := pcrKey(clientID, pcr)
	if err != nil {
		return 0, err
	}
	rec, err := s.st.Get(context.Background(), kindPCR, k)
	switch {
	case errors.Is(err, state.ErrNotFound):
		err = ErrNotFound
	case err == nil && len(rec.Value) != 8:
		err = fmt.Errorf("corrupt PCR index entry %x", k)
	}
	if err != nil {
		return 0, fmt.Errorf("PCR of client %q: %w", clientID, err)
	}
	return MSISDN(binary.BigEndian.Uint64(rec.Value)), nil
}
