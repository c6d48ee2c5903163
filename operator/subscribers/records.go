package subscribers

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// The store's kinds. Secrets are kept apart from the records so that
// serialising a record can never carry a secret along.
const (
	// kindRecord: the number (key) to its subscriberRecord.
	kindRecord state.Kind = "subscribers.record"
	// kindSecret: the number and the holder's generation (secretKey) to
	// the holder's PCR secret, SecretSize raw bytes.
	kindSecret state.Kind = "subscribers.secret"
	// kindPCR: pcrKey(client_id, PCR) to the number it was issued for
	// (key, 8 bytes).
	kindPCR state.Kind = "subscribers.pcr"
)

// never is the expiry of every record: subscribers are deleted by the
// operator, not by time. A fixed date rather than now plus a century, so
// that storing a record again unchanged stores the same bytes.
var never = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// key is the big-endian number, so that the store's key order is number
// order and a page cursor is simply the last number seen.
func key(m MSISDN) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(m))
	return k[:]
}

// secretKey is the key of the PCR secret of the holder of m created at
// version gen. The generation ties a secret to one holder of the number:
// a recycled number's holder has a later generation, so its secret can
// never be the previous holder's, even when the previous one's was not
// yet (or, after a crash, never) removed.
func secretKey(m MSISDN, gen uint64) []byte {
	var k [16]byte
	binary.BigEndian.PutUint64(k[:8], uint64(m))
	binary.BigEndian.PutUint64(k[8:], gen)
	return k[:]
}

// subscriberRecord is a subscriber as the store keeps it. Another node of
// the operator reads what this one wrote, so it has a JSON form of its
// own, with short names, apart from the API's (which may grow or change
// with a new API version): the wire format between the operator's nodes,
// changed only compatibly (a field may be added; none renamed). The
// attributes keep their OpenID Connect claim names, which are a standard's
// and will not change. The number is the key, not a field.
type subscriberRecord struct {
	Status     Status            `json:"s"`
	Attributes Attributes        `json:"a,omitzero"`
	SIMSwapAt  *time.Time        `json:"w,omitempty"`
	LastPortAt *time.Time        `json:"p,omitempty"`
	Enrolments []enrolmentRecord `json:"n,omitempty"`
	Created    time.Time         `json:"c"`
	Updated    time.Time         `json:"u"`
	Version    uint64            `json:"v"`
	// Gen is the version at which the current holder of the number was
	// created: the generation of its PCR secret (secretKey). 0 on a
	// tombstone, which has no secret.
	Gen uint64 `json:"g,omitempty"`
}

type enrolmentRecord struct {
	Type    string          `json:"t"`
	ID      string          `json:"i"`
	Created time.Time       `json:"c"`
	Data    json.RawMessage `json:"d,omitempty"`
}

// encodeRecord is the stored form of sub, whose holder is of generation
// gen (0 for a tombstone).
func encodeRecord(sub *Subscriber, gen uint64) (state.Record, error) {
	r := subscriberRecord{
		Status: sub.Status, Attributes: sub.Attributes, SIMSwapAt: sub.SIMSwapAt, LastPortAt: sub.LastPortAt,
		Created: sub.CreatedAt, Updated: sub.UpdatedAt, Version: sub.Version, Gen: gen,
	}
	for _, e := range sub.Authenticators {
		r.Enrolments = append(r.Enrolments, enrolmentRecord{Type: e.Type, ID: e.ID, Created: e.CreatedAt, Data: e.Data})
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return state.Record{}, fmt.Errorf("encoding subscriber %s: %w", sub.MSISDN, err)
	}
	return state.Record{Value: b, Expires: never}, nil
}

// decodeRecord reads the stored subscriber m and its generation. It fails
// closed: a record that is not one this package writes (a status it does
// not know, no version, a live holder without a generation) is an error,
// never a subscriber.
func decodeRecord(m MSISDN, b []byte) (Subscriber, uint64, error) {
	var r subscriberRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Subscriber{}, 0, fmt.Errorf("corrupt subscriber record %s: %w", m, err)
	}
	live := r.Status == StatusActive || r.Status == StatusSuspended
	switch {
	case !r.Status.valid():
		return Subscriber{}, 0, fmt.Errorf("corrupt subscriber record %s: status %q", m, r.Status)
	case r.Version == 0:
		return Subscriber{}, 0, fmt.Errorf("corrupt subscriber record %s: no version", m)
	case live && (r.Gen == 0 || r.Gen > r.Version):
		return Subscriber{}, 0, fmt.Errorf("corrupt subscriber record %s: generation %d at version %d", m, r.Gen, r.Version)
	case !live && r.Gen != 0:
		return Subscriber{}, 0, fmt.Errorf("corrupt subscriber record %s: a tombstone with a generation", m)
	}
	sub := Subscriber{
		MSISDN: m, Status: r.Status, Attributes: r.Attributes, SIMSwapAt: r.SIMSwapAt, LastPortAt: r.LastPortAt,
		CreatedAt: r.Created, UpdatedAt: r.Updated, Version: r.Version,
	}
	for _, e := range r.Enrolments {
		sub.Authenticators = append(sub.Authenticators, Enrolment{Type: e.Type, ID: e.ID, CreatedAt: e.Created, Data: e.Data})
	}
	return sub, r.Gen, nil
}

// numberOf reads a record's key back into its number.
func numberOf(k []byte) (MSISDN, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("corrupt subscriber key %x", k)
	}
	return MSISDN(binary.BigEndian.Uint64(k)), nil
}
