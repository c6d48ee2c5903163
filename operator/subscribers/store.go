package subscribers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Errors the store answers with; test with errors.Is.
var (
	ErrNotFound        = errors.New("subscriber not found")
	ErrExists          = errors.New("subscriber already exists")
	ErrVersionMismatch = errors.New("version mismatch")
)

// errUnchanged ends an update that would store what is already stored:
// nothing is written, and the caller is told it succeeded.
var errUnchanged = errors.New("unchanged")

// SecretSize is the length of a subscriber's PCR secret.
const SecretSize = 32

// Store is the operator's subscriber database, kept in the operator's state
// store (records.go has the kinds and forms), so that every gateway node
// sharing that store serves every subscriber. All methods are safe for
// concurrent use, on this node and on every other sharing the store: each
// change of a subscriber, its version checked against If-Match, is one
// atomic state.Store Update, so a subscriber is never half written and of
// two nodes' writes at one version exactly one wins.
//
// Deletion is soft: the record becomes a tombstone (status deleted, every
// attribute, date and enrolment wiped, the PCR secret destroyed) that keeps
// the number's version counter, so a stale If-Match can never match a later
// subscriber on the same number. Creating a subscriber on a tombstone (a
// recycled number) gives it a fresh secret, so the new holder of the number
// never inherits the previous holder's PCRs: a secret is kept under the
// number and the holder's generation (secretKey), and made on first use.
type Store struct {
	st      state.Store
	now     func() time.Time
	secrets secretCache
}

// New is the subscriber store kept in st, the operator's state store. The
// store is st's owner's to close.
func New(st state.Store) *Store {
	return &Store{st: st, now: func() time.Time { return time.Now().UTC() }}
}

// get reads the record of m (a tombstone included) and its generation.
func (s *Store) get(ctx context.Context, m MSISDN) (Subscriber, uint64, error) {
	rec, err := s.st.Get(ctx, kindRecord, key(m))
	if errors.Is(err, state.ErrNotFound) {
		return Subscriber{}, 0, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	if err != nil {
		return Subscriber{}, 0, fmt.Errorf("reading subscriber %s: %w", m, err)
	}
	return decodeRecord(m, rec.Value)
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

// Create stores a new subscriber. It fails with ErrExists when the number
// has a subscriber that is not deleted, and with a *FieldError when the
// input is invalid. Store-owned fields of sub (times, version) are
// ignored. The subscriber's PCR secret is made on its first use
// (PCRSecret), so that creating is one atomic step.
func (s *Store) Create(sub Subscriber) (Subscriber, error) {
	if err := sub.validate(false); err != nil {
		return Subscriber{}, err
	}
	ctx := context.Background()
	now := s.now()
	var out Subscriber
	var recycled bool
	_, err := s.st.Update(ctx, kindRecord, key(sub.MSISDN), func(old state.Record, found bool) (state.Record, error) {
		out, recycled = sub, false
		// stamp sets enrolment times: on a copy, since this may run again.
		out.Authenticators = slices.Clone(sub.Authenticators)
		out.Version, out.CreatedAt = 0, now
		if found {
			prev, _, err := decodeRecord(sub.MSISDN, old.Value)
			if err != nil {
				return state.Record{}, err
			}
			if prev.Status != StatusDeleted {
				return state.Record{}, fmt.Errorf("%s: %w", sub.MSISDN, ErrExists)
			}
			out.Version, recycled = prev.Version, true // continues a tombstone's count
		}
		stamp(&out, now)
		return encodeRecord(&out, out.Version)
	})
	if err != nil {
		return Subscriber{}, storeErr("creating", sub.MSISDN, err)
	}
	if recycled {
		if err := s.dropOldSecrets(ctx, sub.MSISDN, out.Version); err != nil {
			return Subscriber{}, fmt.Errorf("%s was created, but: %w", sub.MSISDN, err)
		}
	}
	return out, nil
}

// storeErr names the subscriber in a failure of the state store; the
// package's own errors (ErrExists, a *FieldError, ...) pass as they are.
func storeErr(doing string, m MSISDN, err error) error {
	for _, own := range []error{ErrNotFound, ErrExists, ErrVersionMismatch} {
		if errors.Is(err, own) {
			return err
		}
	}
	if fe := (*FieldError)(nil); errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%s subscriber %s: %w", doing, m, err)
}

// dropOldSecrets removes the PCR secrets of holders of m earlier than
// generation gen. Delete removes a holder's secret just after its
// tombstone is written; this clears one a failure between the two left
// behind (unreachable since, as no record names its generation). A later
// holder's (the number deleted and given again meanwhile) is left alone.
func (s *Store) dropOldSecrets(ctx context.Context, m MSISDN, gen uint64) error {
	old, err := s.st.Scan(ctx, kindSecret, key(m), nil, 64)
	if err != nil {
		return fmt.Errorf("listing earlier PCR secrets of %s: %w", m, err)
	}
	for _, e := range old {
		if len(e.Key) == 16 && binary.BigEndian.Uint64(e.Key[8:]) >= gen {
			continue
		}
		s.secrets.forget(e.Key)
		if err := s.st.Delete(ctx, kindSecret, e.Key); err != nil {
			return fmt.Errorf("destroying an earlier PCR secret of %s: %w", m, err)
		}
	}
	return nil
}

// Get returns a subscriber, a tombstone included (status deleted), or
// ErrNotFound.
func (s *Store) Get(m MSISDN) (Subscriber, error) {
	sub, _, err := s.get(context.Background(), m)
	return sub, err
}

// PCRSecret returns the subscriber's secret for pairwise customer
// references. It is for the node's own use (the token manager) and is never
// shown by the provisioning API. A subscriber's first call makes the
// secret; of nodes making it at once, one's is kept and all return it.
func (s *Store) PCRSecret(m MSISDN) ([]byte, error) {
	_, secret, err := s.Lookup(context.Background(), m)
	return secret, err
}

// Lookup returns a subscriber that is not deleted (ErrNotFound for a
// tombstone) and its PCR secret, made as PCRSecret makes it: the record
// read once, as a login or a token's use needs both, and the secret found
// by the holder's generation that record gives.
func (s *Store) Lookup(ctx context.Context, m MSISDN) (Subscriber, []byte, error) {
	sub, gen, err := s.get(ctx, m)
	if err != nil {
		return Subscriber{}, nil, err
	}
	if sub.Status == StatusDeleted {
		return Subscriber{}, nil, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	secret, err := s.secret(ctx, m, gen)
	if err != nil {
		return Subscriber{}, nil, err
	}
	return sub, secret, nil
}

// secret is the PCR secret of m's holder of generation gen, made when it
// has none yet.
func (s *Store) secret(ctx context.Context, m MSISDN, gen uint64) ([]byte, error) {
	k := secretKey(m, gen)
	if secret, ok := s.secrets.get(k); ok {
		return secret, nil
	}
	rec, err := s.st.Get(ctx, kindSecret, k)
	switch {
	case err == nil:
		secret, err := checkSecret(m, rec.Value)
		if err == nil {
			s.secrets.add(k, secret)
		}
		return secret, err
	case !errors.Is(err, state.ErrNotFound):
		return nil, fmt.Errorf("reading the PCR secret of %s: %w", m, err)
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("making PCR secret: %w", err)
	}
	switch err := s.st.Create(ctx, kindSecret, k, secret, never); {
	case errors.Is(err, state.ErrExists):
		if rec, err = s.st.Get(ctx, kindSecret, k); err != nil {
			return nil, fmt.Errorf("reading the PCR secret of %s: %w", m, err)
		}
		if secret, err = checkSecret(m, rec.Value); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("storing the PCR secret of %s: %w", m, err)
	}
	// The holder may have been deleted since it was read, its secret
	// removed before this one was stored: then this one goes too.
	cur, curGen, err := s.get(ctx, m)
	if err == nil && cur.Status != StatusDeleted && curGen == gen {
		s.secrets.add(k, secret)
		return secret, nil
	}
	if errors.Is(err, ErrNotFound) || err == nil {
		s.secrets.forget(k)
		if err := s.st.Delete(ctx, kindSecret, k); err != nil {
			return nil, fmt.Errorf("destroying the PCR secret of deleted %s: %w", m, err)
		}
		return nil, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	return nil, err
}

// checkSecret refuses a stored secret of the wrong size rather than
// deriving PCRs from it.
func checkSecret(m MSISDN, b []byte) ([]byte, error) {
	if len(b) != SecretSize {
		return nil, fmt.Errorf("corrupt PCR secret of %s: %d bytes", m, len(b))
	}
	return b, nil
}

// liveRecord decodes the record a change of an existing subscriber starts
// from: not a tombstone and, when ifVersion is not 0, at that version.
func liveRecord(m MSISDN, old state.Record, found bool, ifVersion uint64) (Subscriber, uint64, error) {
	if !found {
		return Subscriber{}, 0, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	cur, gen, err := decodeRecord(m, old.Value)
	if err != nil {
		return Subscriber{}, 0, err
	}
	if cur.Status == StatusDeleted {
		return Subscriber{}, 0, fmt.Errorf("%s: %w", m, ErrNotFound)
	}
	if ifVersion != 0 && ifVersion != cur.Version {
		return Subscriber{}, 0, fmt.Errorf("%s is at version %d, not %d: %w", m, cur.Version, ifVersion, ErrVersionMismatch)
	}
	return cur, gen, nil
}

// Update changes a live (not deleted) subscriber in one atomic step: fn
// edits a copy, which is then validated and stored with the next version.
// ifVersion, when not 0, must be the current version (ErrVersionMismatch
// otherwise). fn cannot change the number, the creation time or the
// version. When fn changes nothing the subscriber is not rewritten and keeps
// its version, so repeating a request is harmless. fn may be called more
// than once (the state store retries on a conflict with another node), on
// a fresh copy each time, and must have no other effect.
func (s *Store) Update(m MSISDN, ifVersion uint64, fn func(*Subscriber) error) (Subscriber, error) {
	var out Subscriber
	now := s.now()
	_, err := s.st.Update(context.Background(), kindRecord, key(m), func(rec state.Record, found bool) (state.Record, error) {
		old, gen, err := liveRecord(m, rec, found, ifVersion)
		if err != nil {
			return state.Record{}, err
		}
		sub, err := clone(old)
		if err != nil {
			return state.Record{}, err
		}
		if err := fn(&sub); err != nil {
			return state.Record{}, err
		}
		if sub.MSISDN != old.MSISDN {
			return state.Record{}, invalid("msisdn", "cannot be changed (it is the subscriber's key)")
		}
		sub.CreatedAt, sub.UpdatedAt, sub.Version = old.CreatedAt, old.UpdatedAt, old.Version
		if err := sub.validate(true); err != nil {
			return state.Record{}, err
		}
		out = sub
		if same(&old, &sub) {
			return state.Record{}, errUnchanged
		}
		stamp(&out, now)
		return encodeRecord(&out, gen)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return Subscriber{}, storeErr("updating", m, err)
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
		// On a copy of the enrolments, whose times replaceFields and the
		// store fill in: fn may run again, against another version.
		in := sub
		in.Authenticators = slices.Clone(sub.Authenticators)
		replaceFields(cur, &in)
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
	ctx := context.Background()
	var out Subscriber
	var gen uint64
	now := s.now()
	_, err := s.st.Update(ctx, kindRecord, key(m), func(rec state.Record, found bool) (state.Record, error) {
		old, g, err := liveRecord(m, rec, found, ifVersion)
		if err != nil {
			return state.Record{}, err
		}
		gen = g
		out = Subscriber{MSISDN: m, Status: StatusDeleted, CreatedAt: old.CreatedAt, Version: old.Version}
		stamp(&out, now)
		return encodeRecord(&out, 0)
	})
	if err != nil {
		return Subscriber{}, storeErr("deleting", m, err)
	}
	// After the tombstone: no record names the secret's generation any
	// more, so even if this fails the secret is never used again (and the
	// number's next Create removes it).
	s.secrets.forget(secretKey(m, gen))
	if err := s.st.Delete(ctx, kindSecret, secretKey(m, gen)); err != nil {
		return Subscriber{}, fmt.Errorf("%s was deleted, but destroying its PCR secret failed: %w", m, err)
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
	// One more than the page, to know whether another follows; more when
	// filtering, which may skip many.
	chunk := limit + 1
	if opts.Status != "" || !opts.UpdatedSince.IsZero() || opts.FamilyName != "" {
		chunk = MaxPageSize
	}
	var after []byte
	if opts.After != 0 {
		after = key(opts.After)
	}
	ctx := context.Background()
	for {
		entries, err := s.st.Scan(ctx, kindRecord, nil, after, chunk)
		if err != nil {
			return nil, 0, fmt.Errorf("listing subscribers: %w", err)
		}
		for _, e := range entries {
			m, err := numberOf(e.Key)
			if err != nil {
				return nil, 0, err
			}
			sub, _, err := decodeRecord(m, e.Value)
			if err != nil {
				return nil, 0, err
			}
			if !opts.match(&sub) {
				continue
			}
			if len(page) == limit {
				// One more match exists: the page is not the last.
				return page, page[len(page)-1].MSISDN, nil
			}
			page = append(page, sub)
		}
		if len(entries) < chunk {
			return page, 0, nil
		}
		after = entries[len(entries)-1].Key
	}
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
