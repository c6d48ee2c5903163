package subscribers

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketPCRIndex maps (client_id, PCR) to the number the PCR was issued for.
// A PCR is an HMAC of the subscriber's secret and cannot be reversed, so the
// gateway records each one it hands out to be able to resolve a later
// login_hint=PCR:<pcr>. The bucket is made on first write: stores opened
// before the index existed need no migration.
var bucketPCRIndex = []byte("pcr_index")

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
// call it on every login without an fsync each time.
func (s *Store) RememberPCR(clientID, pcr string, m MSISDN) error {
	k, err := pcrKey(clientID, pcr)
	if err != nil {
		return err
	}
	v := key(m)
	var known bool
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketPCRIndex); b != nil {
			known = bytes.Equal(b.Get(k), v)
		}
		return nil
	})
	if err != nil || known {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPCRIndex)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		// Not the number: the gateway logs this error, and a log line must
		// not tie a client's PCR to a subscriber's MSISDN.
		return fmt.Errorf("recording a PCR for client %q: %w", clientID, err)
	}
	return nil
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
	var m MSISDN
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPCRIndex)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get(k)
		switch len(v) {
		case 0:
			return ErrNotFound
		case 8:
		default:
			return fmt.Errorf("corrupt PCR index entry %x", k)
		}
		m = MSISDN(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("PCR of client %q: %w", clientID, err)
	}
	return m, nil
}
