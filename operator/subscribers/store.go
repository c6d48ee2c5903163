package subscribers

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors the store answers with; test with errors.Is.
var (
	ErrNotFound        = errors.New("subscriber not found")
	ErrExists          = errors.New("subscriber already exists")
	ErrVersionMismatch = errors.New("version mismatch")
)

// Buckets. Secrets are kept apart from the records so that serialising a
// record can never carry a secret along.
var (
	bucketSubscribers = []byte("subscribers")
	bucketSecrets     = []byte("pcr_secrets")
)

// SecretSize is the length of a subscriber's PCR secret.
const SecretSize = 32

// Store is the operator's subscriber database: one bbolt file. All methods
// are safe for concurrent use; every write is one bbolt transaction, so a
// subscriber is never half written.
//
// Deletion is soft: the record becomes a tombstone (status deleted, every
// attribute, date and enrolment wiped, the PCR secret destroyed) that keeps
// the number's version counter, so a stale If-Match can never match a later
// subscriber on the same number. Creating a subscriber on a tombstone (a
// recycled number) gives it a fresh secret, so the new holder of the number
// never inherits the previous holder's PCRs.
type Store struct {
	db  *bolt.DB
	now func() time.Time
}

// Open opens (creating if needed) the store at path, a file in the node's
// data directory.
func Open(path string) (*Store, error) {
	// The timeout turns a second node pointed at the same data directory
	// into an error instead of a hang on the file lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening subscriber store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSubscribers, bucketSecrets} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising subscriber store %s: %w", path, err)
	}
	return &Store{db: db, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Close closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing subscriber store: %w", err)
	}
	return nil
}

// key is the big-endian number, so that bbolt's byte order is numeric order
// and a page cursor is simply the last number seen.
func key(m MSISDN) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(m))
	return k[:]
}

func decodeRecord(k, v []byte) (Subscriber, error) {
	var sub Subscriber
	if err := json.Unmarshal(v, &sub); err != nil {
		return sub, fmt.Errorf("corrupt subscriber record %x: %w", k, err)
	}
	sub.MSISDN = MSISDN(binary.BigEndian.Uint64(k))
	return sub, nil
}

func get(tx *bolt.Tx, m MSISDN) (Subscriber, bool, error) {
	k := key(m)
	v := tx.Bucket(bucketSubscribers).Get(k)
	if v == nil {
		return Subscriber{}, false, nil
	}
	sub, err := decodeRecord(k, v)
	return sub, err == nil, err
}

func put(tx *bolt.Tx, sub *Subscriber) error {
	v, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("encoding subscriber %s: %w", sub.MSISDN, err)
	}
	if err := tx.Bucket(bucketSubscribers).Put(key(sub.MSISDN), v); err != nil {
		return fmt.Errorf("writing subscriber %s: %w", sub.MSISDN, err)
	}
	return nil
}

func newSecret(tx *bolt.Tx, m MSISDN) error {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("making PCR secret: %w", err)
	}
	if err := tx.Bucket(bucketSecrets).Put(key(m), secret); err != nil {
		return fmt.Errorf("writing PCR secret of %s: %w", m, err)
	}
	return nil
}

// stamp fills in what the store owns on a subscriber about to be written.
func stamp(sub *Subscriber, now time.Time) {
	if sub.Status == "" {
		sub.Status = StatusActive
	}
	sub.UpdatedAt = now
	sub.Version++
	for i := range sub.Authenticators {
		if sub.Authenticators[i].CreatedAt.IsZero() {
			sub.Authenticators[i].CreatedAt = now
		}
	}
}

// Create stores a new subscriber with a fresh PCR secret. It fails with
// ErrExists when the number has a subscriber that is not deleted, and with
// a *FieldError when the input is invalid. Store-owned fields of sub
// (times, version) are ignored.
func (s *Store) Create(sub Subscriber) (Subscriber, error) {
	if err := sub.validate(false); err != nil {
		return Subscriber{}, err
	}
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, found, err := get(tx, sub.MSISDN)
		if err != nil {
			return err
		}
		if found && old.Status != StatusDeleted {
			return fmt.Errorf("%s: %w", sub.MSISDN, ErrExists)
		}
		sub.Version = old.Version // continues a tombstone's count
		sub.CreatedAt = now
		stamp(&sub, now)
		if err := put(tx, &sub); err != nil {
			return err
		}
		return newSecret(tx, sub.MSISDN)
	})
	if err != nil {
		return Subscriber{}, err
	}
	return sub, nil
}

// Get returns a subscriber, a tombstone included (status deleted), or
// ErrNotFound.
func (s *Store) Get(m MSISDN) (Subscriber, error) {
	var sub Subscriber
	err := s.db.View(func(tx *bolt.Tx) error {
		var found bool
		var err error
		sub, found, err = get(tx, m)
		if err == nil && !found {
			err = fmt.Errorf("%s: %w", m, ErrNotFound)
		}
		return err
	})
	return sub, err
}

// PCRSecret returns the subscriber's secret for pairwise customer
// references. It is for the node's own use (the token manager) and is never
// shown by the provisioning API.
func (s *Store) PCRSecret(m MSISDN) ([]byte, error) {
	var secret []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSecrets).Get(key(m))
		if v == nil {
			return fmt.Errorf("%s: %w", m, ErrNotFound)
		}
		secret = bytes.Clone(v) // bbolt's slice is only valid inside the transaction
		return nil
	})
	return secret, err
}

// getLive reads a subscriber that is not a tombstone and, when ifVersion is
// not 0, is at that version: what every change of an existing subscriber
// starts from.
func getLive(tx *bolt.Tx, m MSISDN, ifVersion uint64) (Subscriber, error) {
	old, found, err := get(tx, m)
	if err != nil {
		return Subscriber{}, err
	}
	if !found || old.Status == StatusDeleted {
		return Subscriber{}, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	if ifVersion != 0 && ifVersion != old.Version {
		return Subscriber{}, fmt.Errorf("%s is at version %d, not %d: %w", m, old.Version, ifVersion, ErrVersionMismatch)
	}
	return old, nil
}

// Update changes a live (not deleted) subscriber in one transaction: fn
// edits a copy, which is then validated and stored with the next version.
// ifVersion, when not 0, must be the current version (ErrVersionMismatch
// otherwise). fn cannot change the number, the creation time or the
// version. When fn changes nothing the subscriber is not rewritten and keeps
// its version, so repeating a request is harmless.
func (s *Store) Update(m MSISDN, ifVersion uint64, fn func(*Subscriber) error) (Subscriber, error) {
	var out Subscriber
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, err := getLive(tx, m, ifVersion)
		if err != nil {
			return err
		}
		sub, err := clone(old)
		if err != nil {
			return err
		}
		if err := fn(&sub); err != nil {
			return err
		}
		if sub.MSISDN != old.MSISDN {
			return invalid("msisdn", "cannot be changed (it is the subscriber's key)")
		}
		sub.CreatedAt, sub.UpdatedAt, sub.Version = old.CreatedAt, old.UpdatedAt, old.Version
		if err := sub.validate(true); err != nil {
			return err
		}
		out = sub
		if same(&old, &sub) {
			return nil
		}
		stamp(&out, now)
		return put(tx, &out)
	})
	if err != nil {
		return Subscriber{}, err
	}
	return out, nil
}

// clone deep-copies a subscriber through its JSON form, so fn cannot alias
// the stored one's slices.
func clone(s Subscriber) (Subscriber, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return Subscriber{}, fmt.Errorf("copying subscriber %s: %w", s.MSISDN, err)
	}
	var c Subscriber
	if err := json.Unmarshal(b, &c); err != nil {
		return Subscriber{}, fmt.Errorf("copying subscriber %s: %w", s.MSISDN, err)
	}
	return c, nil
}

// same compares two subscribers by their JSON form: cheap enough for one
// record and exactly the equality that matters (what is stored and shown).
func same(a, b *Subscriber) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// Replace sets everything a client owns (status when given, attributes,
// dates, enrolments) to sub's.
func (s *Store) Replace(m MSISDN, ifVersion uint64, sub Subscriber) (Subscriber, error) {
	return s.Update(m, ifVersion, func(cur *Subscriber) error {
		if sub.MSISDN != 0 && sub.MSISDN != m {
			return invalid("msisdn", "%s does not match the subscriber %s", sub.MSISDN, m)
		}
		replaceFields(cur, &sub)
		return nil
	})
}

func replaceFields(cur, sub *Subscriber) {
	if sub.Status != "" {
		cur.Status = sub.Status
	}
	cur.Attributes = sub.Attributes
	cur.SIMSwapAt, cur.LastPortAt = sub.SIMSwapAt, sub.LastPortAt
	cur.Authenticators = keepEnrolmentTimes(cur.Authenticators, sub.Authenticators)
}

// Patch applies an RFC 7396 JSON merge patch to the subscriber's JSON form.
func (s *Store) Patch(m MSISDN, ifVersion uint64, patch []byte) (Subscriber, error) {
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return Subscriber{}, &FieldError{Field: "body", Reason: "not valid JSON: " + err.Error(), err: err}
	}
	if _, ok := p.(map[string]any); !ok {
		return Subscriber{}, invalid("body", "a merge patch must be a JSON object")
	}
	return s.Update(m, ifVersion, func(cur *Subscriber) error {
		b, err := json.Marshal(cur)
		if err != nil {
			return fmt.Errorf("encoding subscriber %s: %w", m, err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("decoding subscriber %s: %w", m, err)
		}
		b, err = json.Marshal(mergePatch(doc, p))
		if err != nil {
			return fmt.Errorf("encoding patched subscriber %s: %w", m, err)
		}
		patched, err := decodeSubscriber(b)
		if err != nil {
			return err
		}
		if patched.MSISDN != m {
			return invalid("msisdn", "cannot be changed (it is the subscriber's key)")
		}
		replaceFields(cur, &patched)
		return nil
	})
}

// mergePatch is RFC 7396's MergePatch(target, patch).
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// SetStatus suspends (StatusSuspended) or reactivates (StatusActive) a
// subscriber.
func (s *Store) SetStatus(m MSISDN, ifVersion uint64, status Status) (Subscriber, error) {
	if status != StatusActive && status != StatusSuspended {
		return Subscriber{}, invalid("status", "must be %q or %q", StatusActive, StatusSuspended)
	}
	return s.Update(m, ifVersion, func(cur *Subscriber) error {
		cur.Status = status
		return nil
	})
}

// Delete turns a subscriber into a tombstone (see Store) and destroys its
// PCR secret. Deleting a tombstone or an unknown number is ErrNotFound.
func (s *Store) Delete(m MSISDN, ifVersion uint64) (Subscriber, error) {
	var out Subscriber
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, err := getLive(tx, m, ifVersion)
		if err != nil {
			return err
		}
		out = Subscriber{MSISDN: m, Status: StatusDeleted, CreatedAt: old.CreatedAt, Version: old.Version}
		stamp(&out, now)
		if err := put(tx, &out); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSecrets).Delete(key(m)); err != nil {
			return fmt.Errorf("destroying PCR secret of %s: %w", m, err)
		}
		return nil
	})
	if err != nil {
		return Subscriber{}, err
	}
	return out, nil
}

// ListOptions select a page of subscribers.
type ListOptions struct {
	After        MSISDN    // start after this number (the previous page's Next)
	Limit        int       // page size; 0 means DefaultPageSize, capped at MaxPageSize
	Status       Status    // only this status; "" means every status but deleted
	UpdatedSince time.Time // only subscribers updated at or after this time
	FamilyName   string    // only subscribers with exactly this family name
}

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// List returns subscribers in number order, after opts.After. next is the
// cursor for the following page, 0 when there is none. Filters are applied
// by scanning (there is no secondary index): fine for admin use, not for a
// hot path.
func (s *Store) List(opts ListOptions) (page []Subscriber, next MSISDN, err error) {
	if opts.Status != "" && !opts.Status.valid() {
		return nil, 0, invalid("status", "must be active, suspended or deleted")
	}
	limit := opts.Limit
	switch {
	case limit <= 0:
		limit = DefaultPageSize
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSubscribers).Cursor()
		var k, v []byte
		if opts.After == 0 {
			k, v = c.First()
		} else {
			// Seek positions at the first key >= After+1.
			k, v = c.Seek(key(opts.After + 1))
		}
		for ; k != nil; k, v = c.Next() {
			sub, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			if !opts.match(&sub) {
				continue
			}
			if len(page) == limit {
				// One more match exists: the page is not the last.
				next = page[len(page)-1].MSISDN
				return nil
			}
			page = append(page, sub)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return page, next, nil
}

func (o *ListOptions) match(s *Subscriber) bool {
	switch {
	case o.Status == "" && s.Status == StatusDeleted:
		return false
	case o.Status != "" && s.Status != o.Status:
		return false
	case !o.UpdatedSince.IsZero() && s.UpdatedAt.Before(o.UpdatedSince):
		return false
	case o.FamilyName != "" && s.Attributes.FamilyName != o.FamilyName:
		return false
	}
	return true
}
