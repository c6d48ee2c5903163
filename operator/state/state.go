// Package state is the contract of an operator's node-local state store:
// what a gateway node keeps that is not the federation's (the registry is
// replicated by Raft and holds no subscriber data) and that the operator's
// other gateway nodes must see: login sessions, authorization codes and the
// markers of redeemed ones, access and refresh tokens (by digest), token
// families, authenticator challenges and send counters, consents,
// enrolments, the operator's keys (encrypted by their owner).
//
// The store is a set of tables (Kind), each mapping byte keys to records
// with an expiry. Its users own their encodings; the store owns atomicity:
// every method is one atomic step against every other call on any node
// sharing the store, which is what makes a code single use across nodes
// (Take) and a send limit hold across them (Update). Two backends implement
// it, each in its own package: bbolt in the node's data directory (one
// node) and PostgreSQL (several nodes of one operator); the conformance
// package is the test suite both pass.
package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Kind names a table. Each user of the store has its own kinds, named for
// what they hold ("idgw.code", "sms.challenge"); a kind is at most 64
// bytes of [a-z0-9._-].
type Kind string

// MaxKeySize and MaxValueSize bound what a record may hold; the store
// refuses more with ErrBadKey or ErrTooLarge rather than letting one caller grow a table
// without bound.
const (
	MaxKeySize   = 512
	MaxValueSize = 1 << 20
)

// Record is one stored value and its expiry. A record is live until
// Expires; an expired record is never returned, whether or not Sweep has
// removed it yet, and a key whose record expired is free for Create.
type Record struct {
	Value   []byte
	Expires time.Time
}

// Entry is a record with its key, as Scan returns them.
type Entry struct {
	Key []byte
	Record
}

// Op is one write of a Batch: Value stored under Key of Kind until
// Expires, as Put does, or, with Delete, the record removed.
type Op struct {
	Kind    Kind
	Key     []byte
	Value   []byte
	Expires time.Time
	Delete  bool
}

// MaxBatch bounds the ops of one Batch, and the counters of one Spend.
const MaxBatch = 64

// Counter is one counter of a Spend: the record under Key of Kind, which
// may be spent while its count is below Limit, and is kept until Expires
// once spent.
type Counter struct {
	Kind    Kind
	Key     []byte
	Limit   int64
	Expires time.Time
}

// CheckCounters refuses counters Check would refuse a key of, or more
// than MaxBatch of them (ErrTooLarge).
func CheckCounters(counters []Counter) error {
	if len(counters) > MaxBatch {
		return ErrTooLarge
	}
	for _, c := range counters {
		if err := Check(c.Kind, c.Key, nil); err != nil {
			return err
		}
	}
	return nil
}

// ParseCount reads a counter's value (Spend): its count in decimal ASCII.
func ParseCount(v []byte) (int64, error) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("state: a counter's value is not a count: %.20q", v)
	}
	return n, nil
}

// CheckBatch refuses a batch Check would refuse an op of, or one of more
// than MaxBatch ops (ErrTooLarge).
func CheckBatch(ops []Op) error {
	if len(ops) > MaxBatch {
		return ErrTooLarge
	}
	for _, op := range ops {
		if err := Check(op.Kind, op.Key, op.Value); err != nil {
			return err
		}
	}
	return nil
}

// Store is an operator's node-local state. Every method is safe for
// concurrent use, and atomic against every other call on the same key from
// this or any other node sharing the store. The times compared with
// Expires are the store's clock (its Options' Now), not the database's.
type Store interface {
	// Put stores value under key until expires, replacing any record.
	Put(ctx context.Context, kind Kind, key, value []byte, expires time.Time) error
	// Create stores value under key until expires only when the key has no
	// live record: ErrExists otherwise. Of concurrent creators of one key,
	// exactly one succeeds.
	Create(ctx context.Context, kind Kind, key, value []byte, expires time.Time) error
	// Get returns the live record of key, or ErrNotFound.
	Get(ctx context.Context, kind Kind, key []byte) (Record, error)
	// Take returns the live record of key and removes it in the same step,
	// or ErrNotFound: of any number of concurrent takers, on any nodes,
	// exactly one gets the record (a single-use code).
	Take(ctx context.Context, kind Kind, key []byte) (Record, error)
	// Update reads key's record, calls fn with it (found is false, and the
	// record zero, when there is no live one) and stores what fn returns,
	// as one step: no other write of key falls between the read and the
	// write. fn may be called more than once (a backend retries on a
	// conflict) and must not have effects outside its result. When fn
	// returns an error nothing is written and Update returns that error;
	// when fn returns a record whose Expires is not after now, the key's
	// record is removed. Update returns the record stored.
	Update(ctx context.Context, kind Kind, key []byte, fn func(old Record, found bool) (Record, error)) (Record, error)
	// Delete removes key's record; it is not an error when there is none.
	Delete(ctx context.Context, kind Kind, key []byte) error
	// Batch applies ops in order as one atomic step, all or none: the
	// records one act writes together (a login's session and the keys
	// that find it; a token pair and its family), in one round trip and
	// one commit instead of one each.
	Batch(ctx context.Context, ops ...Op) error
	// Spend adds one to each of counters, in order, as one atomic step,
	// and stops at the first that has reached its limit: that one and
	// the ones after it are left as they are (a caller's budgets, where
	// one over its limit must not spend the next). It returns that
	// counter's index, or -1 when every one was spent. A counter is a
	// record whose value is its count in decimal ASCII ("7"); one with no
	// live record is at 0; each one spent is stored with its Counter's
	// Expires. Of concurrent spenders of a counter's last unit, on any
	// nodes, exactly one gets it. One round trip and one commit, where
	// an Update a counter is two and one each.
	Spend(ctx context.Context, counters ...Counter) (int, error)
	// Scan returns up to limit live records whose keys begin with prefix
	// and sort after after (bytewise), in key order; a nil or empty after
	// starts at the first. A page ends the scan when it is shorter than
	// limit.
	Scan(ctx context.Context, kind Kind, prefix, after []byte, limit int) ([]Entry, error)
	// Sweep removes expired records, at most limit of them, and returns
	// how many it removed; a node calls it periodically.
	Sweep(ctx context.Context, limit int) (int, error)
	// Close releases the store; calls after it fail.
	Close() error
}

// Errors a Store answers with; test with errors.Is.
var (
	ErrNotFound = errors.New("state: no such record")
	ErrExists   = errors.New("state: record exists")
	ErrTooLarge = errors.New("state: value too large")
	ErrBadKey   = errors.New("state: key empty or too long")
	ErrBadKind  = errors.New("state: invalid kind")
	ErrClosed   = errors.New("state: store closed")
)

// Options are what both backends take.
type Options struct {
	// Now is the store's clock (tests); default time.Now.
	Now func() time.Time
}

// Clock returns o.Now, or time.Now.
func (o Options) Clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// Check returns ErrBadKind, ErrBadKey or ErrTooLarge when kind, key or value cannot be
// stored: backends call it first, so that both refuse the same inputs.
func Check(kind Kind, key, value []byte) error {
	if len(kind) == 0 || len(kind) > 64 {
		return ErrBadKind
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return ErrBadKind
		}
	}
	if len(key) == 0 || len(key) > MaxKeySize {
		return ErrBadKey
	}
	if len(value) > MaxValueSize {
		return ErrTooLarge
	}
	return nil
}
