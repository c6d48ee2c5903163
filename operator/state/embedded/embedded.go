// Package embedded is the state store of a single gateway node: a bbolt
// file in the node's data directory. It survives a restart and a SIGKILL
// (every write is a committed, synced bbolt transaction); an operator that
// runs several gateway nodes shares a PostgreSQL store instead.
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcfed/mcfed/operator/state"
)

// Store is a state.Store on one bbolt file: a bucket per kind, each value
// prefixed with its expiry (8 bytes, Unix nanoseconds as state.ExpiryNanos
// clamps them, big-endian).
//
// Writes go through one committer (commit.go), which puts every write
// waiting at the time into one bbolt transaction: a synced commit costs
// about half a millisecond here, and a login makes a dozen writes, so one
// commit per write would cap a node at a few hundred logins a second.
type Store struct {
	db  *bolt.DB
	now func() time.Time
	w   *committer
}

var _ state.Store = (*Store)(nil)

// Open opens (creating if needed) the store at path.
func Open(path string, o state.Options) (*Store, error) {
	// The timeout turns a second node pointed at the same data directory
	// into an error instead of a hang on the file lock.
	// The freelist is not written at each commit (NoFreelistSync; it is
	// rebuilt from the pages at open) and kept as a map (the hashmap
	// freelist): a login commits a dozen times, and writing and sorting
	// the freelist each time was a good part of a commit's CPU. etcd runs
	// bbolt the same way.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("opening state store %s: %w", path, err)
	}
	return &Store{db: db, now: o.Clock(), w: newCommitter(db)}, nil
}

// Close stops the committer and closes the file.
func (s *Store) Close() error {
	s.w.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing state store: %w", err)
	}
	return nil
}

func encode(value []byte, expires time.Time) []byte {
	b := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(state.ExpiryNanos(expires)))
	copy(b[8:], value)
	return b
}

// decode copies the record out of bbolt's memory, valid only within its
// transaction.
func decode(b []byte) state.Record {
	return state.Record{
		Expires: time.Unix(0, int64(binary.BigEndian.Uint64(b))),
		Value:   bytes.Clone(b[8:]),
	}
}

func expiresOf(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}

func (s *Store) live(b []byte, now time.Time) bool {
	return len(b) >= 8 && now.Before(expiresOf(b))
}

// closedErr maps bbolt's closed-database error to state.ErrClosed.
func closedErr(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return state.ErrClosed
	}
	return err
}

// write runs fn on kind's bucket in the committer's next transaction. fn
// must check before it changes anything: its error is its caller's alone,
// and the transaction goes on with the other writes.
func (s *Store) write(kind state.Kind, fn func(b *bolt.Bucket) error) error {
	return closedErr(s.w.do(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		return fn(b)
	}))
}

func (s *Store) read(kind state.Kind, fn func(b *bolt.Bucket) error) error {
	return closedErr(s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(kind))
		if b == nil {
			return fn(nil)
		}
		return fn(b)
	}))
}

// Put implements state.Store.
func (s *Store) Put(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error {
	if err := state.Check(kind, key, value); err != nil {
		return err
	}
	return s.write(kind, func(b *bolt.Bucket) error {
		return b.Put(key, encode(value, expires))
	})
}

// Create implements state.Store.
func (s *Store) Create(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error {
	if err := state.Check(kind, key, value); err != nil {
		return err
	}
	return s.write(kind, func(b *bolt.Bucket) error {
		if s.live(b.Get(key), s.now()) {
			return state.ErrExists
		}
		return b.Put(key, encode(value, expires))
	})
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, kind state.Kind, key []byte) (state.Record, error) {
	if err := state.Check(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	var r state.Record
	err := s.read(kind, func(b *bolt.Bucket) error {
		if b == nil {
			return state.ErrNotFound
		}
		v := b.Get(key)
		if !s.live(v, s.now()) {
			return state.ErrNotFound
		}
		r = decode(v)
		return nil
	})
	return r, err
}

// Take implements state.Store.
func (s *Store) Take(ctx context.Context, kind state.Kind, key []byte) (state.Record, error) {
	if err := state.Check(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	var r state.Record
	err := s.write(kind, func(b *bolt.Bucket) error {
		v := b.Get(key)
		if v == nil {
			return state.ErrNotFound
		}
		live := s.live(v, s.now())
		if live {
			r = decode(v)
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		if !live {
			// The expired record goes too; the deletion commits, the
			// caller learns there was nothing to take.
			r = state.Record{}
		}
		return nil
	})
	if err == nil && r.Expires.IsZero() {
		return state.Record{}, state.ErrNotFound
	}
	return r, err
}

// Update implements state.Store. bbolt serialises writers, so fn runs once.
func (s *Store) Update(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error) {
	if err := state.Check(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	var out state.Record
	err := s.write(kind, func(b *bolt.Bucket) error {
		now := s.now()
		var old state.Record
		v := b.Get(key)
		found := s.live(v, now)
		if found {
			old = decode(v)
		}
		rec, err := fn(old, found)
		if err != nil {
			return err
		}
		if err := state.Check(kind, key, rec.Value); err != nil {
			return err
		}
		if !now.Before(rec.Expires) {
			out = state.Record{}
			return b.Delete(key)
		}
		out = rec
		return b.Put(key, encode(rec.Value, rec.Expires))
	})
	return out, err
}

// Delete implements state.Store.
func (s *Store) Delete(ctx context.Context, kind state.Kind, key []byte) error {
	if err := state.Check(kind, key, nil); err != nil {
		return err
	}
	return s.write(kind, func(b *bolt.Bucket) error { return b.Delete(key) })
}

// Batch implements state.Store: one write of the committer's, so its ops
// commit together.
func (s *Store) Batch(ctx context.Context, ops ...state.Op) (err error) {
	defer batchError(&err)
	if err := state.CheckBatch(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	return closedErr(s.w.do(func(tx *bolt.Tx) error {
		for _, op := range ops {
			b, err := tx.CreateBucketIfNotExists([]byte(op.Kind))
			if err != nil {
				return err
			}
			if op.Delete {
				err = b.Delete(op.Key)
			} else {
				err = b.Put(op.Key, encode(op.Value, op.Expires))
			}
			if err != nil {
				// Only bbolt's own failures get here, after Check: the
				// group's transaction must not commit half the batch.
				panic(batchFailed{err})
			}
		}
		return nil
	}))
}

// Spend implements state.Store: one write of the committer's. The
// counters are all read and judged before any is written, so that a
// count that does not parse changes nothing.
func (s *Store) Spend(ctx context.Context, counters ...state.Counter) (stop int, err error) {
	defer batchError(&err)
	if err := state.CheckCounters(counters); err != nil {
		return 0, err
	}
	if len(counters) == 0 {
		return -1, nil
	}
	err = closedErr(s.w.do(func(tx *bolt.Tx) error {
		now := s.now()
		stop = -1
		// counts are the counts as spent so far, by kind and key: a
		// counter named twice is spent twice.
		counts := map[string]int64{}
		spent := make([]int64, 0, len(counters))
		for i, c := range counters {
			id := string(c.Kind) + "\x00" + string(c.Key)
			n, ok := counts[id]
			if !ok {
				if b := tx.Bucket([]byte(c.Kind)); b != nil {
					if v := b.Get(c.Key); s.live(v, now) {
						var err error
						if n, err = state.ParseCount(decode(v).Value); err != nil {
							return err
						}
					}
				}
			}
			if n >= c.Limit {
				stop = i
				break
			}
			counts[id] = n + 1
			spent = append(spent, n+1)
		}
		for i, n := range spent {
			c := counters[i]
			b, err := tx.CreateBucketIfNotExists([]byte(c.Kind))
			if err == nil {
				err = b.Put(c.Key, encode(strconv.AppendInt(nil, n, 10), c.Expires))
			}
			if err != nil {
				// bbolt's own failure: none of the spend may commit.
				panic(batchFailed{err})
			}
		}
		return nil
	}))
	if err != nil {
		return 0, err
	}
	return stop, nil
}

// batchError, deferred, turns a batchFailed panic into the error *err
// and lets any other panic go on.
func batchError(err *error) {
	if v := recover(); v != nil {
		bf, ok := v.(batchFailed)
		if !ok {
			panic(v)
		}
		*err = bf.err
	}
}

// batchFailed aborts the committer's transaction from within a batch
// (its ops were checked: this is bbolt failing), through the committer's
// recovery, so that none of the batch commits.
type batchFailed struct{ err error }

// Scan implements state.Store.
func (s *Store) Scan(ctx context.Context, kind state.Kind, prefix, after []byte, limit int) ([]state.Entry, error) {
	if err := state.Check(kind, []byte{0}, nil); err != nil {
		return nil, err
	}
	var out []state.Entry
	err := s.read(kind, func(b *bolt.Bucket) error {
		// Inside the transaction, so that a closed store says so even
		// for an empty page.
		if b == nil || limit <= 0 {
			return nil
		}
		now := s.now()
		c := b.Cursor()
		k, v := c.Seek(prefix)
		if len(after) > 0 && bytes.Compare(after, prefix) >= 0 {
			k, v = c.Seek(after)
			if bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			if s.live(v, now) {
				out = append(out, state.Entry{Key: bytes.Clone(k), Record: decode(v)})
			}
		}
		return nil
	})
	return out, err
}

// Sweep implements state.Store.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	n := 0
	err := closedErr(s.w.do(func(tx *bolt.Tx) error {
		now := s.now()
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			c := b.Cursor()
			for k, v := c.First(); k != nil && n < limit; {
				if s.live(v, now) {
					k, v = c.Next()
					continue
				}
				// Seek again from a copy of the deleted key: k points into
				// the page the deletion changes.
				at := bytes.Clone(k)
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(at)
			}
			return nil
		})
	}))
	return n, err
}
