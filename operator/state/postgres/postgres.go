// Package postgres is the state store shared by an operator's gateway
// nodes: one PostgreSQL table, each method one statement or (Update) one
// short transaction, so that every method is atomic across the nodes.
// The calls that wait together go as one pipeline (group.go): the
// writes in one round trip and one commit, the reads in one round trip.
// The times compared with a record's expiry are the node's clock
// (state.Options.Now), passed to each statement, not the database's.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcfed/mcfed/operator/state"
)

// Store is a state.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	closed atomic.Bool
	// writes and reads are kept apart: a read in a writes' pipeline
	// would see the other calls' writes before their commit.
	writes, reads group
}

var _ state.Store = (*Store)(nil)

// Open connects to the database url names (a postgres:// URL or key=value
// string, as pgx reads them; pool_max_conns and the like go in it) and
// brings its schema to this build's version. Nodes may open one database
// at once: they migrate one after the other.
func Open(ctx context.Context, url string, o state.Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, errors.New("state: the PostgreSQL URL does not parse")
	}
	// Every statement here relies on read committed: a DELETE or an
	// INSERT ... ON CONFLICT that waited for another's row lock then
	// sees that row's committed version (Take finds it gone, Create
	// finds it live). Under repeatable read or serializable, a database's
	// or role's default, they would fail with serialization errors
	// instead of ErrNotFound and ErrExists.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state: connecting to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state: migrating the PostgreSQL schema: %w", err)
	}
	return &Store{pool: pool, now: o.Clock(), writes: group{pool: pool}, reads: group{pool: pool}}, nil
}

// Close closes the pool, waiting for calls in progress.
func (s *Store) Close() error {
	if !s.closed.Swap(true) {
		s.pool.Close()
	}
	return nil
}

// fail maps a database error to what the caller tests for: ErrClosed
// after Close (pgx's closed-pool error, or a call that raced it), the
// context's error as is, anything else wrapped.
func (s *Store) fail(err error) error {
	switch {
	case err == nil:
		return nil
	case s.closed.Load():
		return state.ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("state: postgres: %w", err)
}

// begin refuses a call on a closed store before it reaches the pool.
func (s *Store) begin(kind state.Kind, key, value []byte) error {
	if err := state.Check(kind, key, value); err != nil {
		return err
	}
	if s.closed.Load() {
		return state.ErrClosed
	}
	return nil
}

// nonNil: pgx sends a nil slice as NULL, and value is NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func record(value []byte, expires int64) state.Record {
	return state.Record{Value: nonNil(value), Expires: time.Unix(0, expires)}
}

// Put implements state.Store.
func (s *Store) Put(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error {
	if err := s.begin(kind, key, value); err != nil {
		return err
	}
	return s.fail(s.writes.do(ctx, &call{kind: string(kind), key: key,
		queue: func(b *pgx.Batch) { b.Queue(putSQL, string(kind), key, nonNil(value), state.ExpiryNanos(expires)) },
		read:  execOne}))
}

const putSQL = `INSERT INTO mcfed_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
	ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires`

const deleteSQL = `DELETE FROM mcfed_state WHERE kind = $1 AND key = $2`

// execOne reads the result of one statement whose answer is only
// whether it failed.
func execOne(br pgx.BatchResults) error {
	_, err := br.Exec()
	return err
}

// Batch implements state.Store: the statements sent together, in one
// pipeline, which PostgreSQL runs as one implicit transaction (with the
// other calls of its pipeline, group.go). When the ops write distinct
// keys, their order does not matter, and the puts are one statement
// (bulk), in key order, after the deletes.
func (s *Store) Batch(ctx context.Context, ops ...state.Op) error {
	if err := state.CheckBatch(ops); err != nil {
		return err
	}
	if s.closed.Load() {
		return state.ErrClosed
	}
	if len(ops) == 0 {
		return nil
	}
	c := &call{kind: string(ops[0].Kind), key: ops[0].Key}
	if puts, dels, ok := bulk(ops); ok {
		c.queue = func(b *pgx.Batch) {
			for _, q := range []*bulkOps{dels, puts} {
				if q != nil {
					q.queue(b)
				}
			}
		}
		c.read = func(br pgx.BatchResults) error {
			for _, q := range []*bulkOps{dels, puts} {
				for range q.statements() {
					if _, err := br.Exec(); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return s.fail(s.writes.do(ctx, c))
	}
	c.queue = func(b *pgx.Batch) {
		for _, op := range ops {
			if op.Delete {
				b.Queue(deleteSQL, string(op.Kind), op.Key)
			} else {
				b.Queue(putSQL, string(op.Kind), op.Key, nonNil(op.Value), state.ExpiryNanos(op.Expires))
			}
		}
	}
	c.read = func(br pgx.BatchResults) error {
		for range ops {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	}
	return s.fail(s.writes.do(ctx, c))
}

// Create implements state.Store: one statement that inserts, or replaces
// an expired record. Of concurrent creators, the others wait for the
// first's row and then find it live.
func (s *Store) Create(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error {
	if err := s.begin(kind, key, value); err != nil {
		return err
	}
	var created bool
	err := s.writes.do(ctx, &call{kind: string(kind), key: key,
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO mcfed_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
				ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires
				WHERE mcfed_state.expires <= $5`,
				string(kind), key, nonNil(value), state.ExpiryNanos(expires), state.ExpiryNanos(s.now()))
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			created = tag.RowsAffected() == 1
			return err
		}})
	if err != nil {
		return s.fail(err)
	}
	if !created {
		return state.ErrExists
	}
	return nil
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, kind state.Kind, key []byte) (state.Record, error) {
	if err := s.begin(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	now := state.ExpiryNanos(s.now())
	value, expires, found, err := s.read(ctx, kind, key)
	if err != nil {
		return state.Record{}, s.fail(err)
	}
	if !found || expires <= now {
		return state.Record{}, state.ErrNotFound
	}
	return record(value, expires), nil
}

// read reads key's row, live or expired, in the reads' next pipeline,
// where it is one of the rows of one statement when other calls read
// rows too (group.exec).
func (s *Store) read(ctx context.Context, kind state.Kind, key []byte) (value []byte, expires int64, found bool, err error) {
	l := &lookup{kind: string(kind), key: key}
	err = s.reads.do(ctx, &call{kind: l.kind, key: key, look: l,
		queue: func(b *pgx.Batch) {
			b.Queue(`SELECT value, expires FROM mcfed_state WHERE kind = $1 AND key = $2`, l.kind, key)
		},
		read: func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&l.value, &l.expires)
			l.found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}})
	return l.value, l.expires, l.found, err
}

// row runs, in g's next pipeline, query on kind and key (and more
// arguments after them), which answers at most one row of value and
// expires.
func (s *Store) row(ctx context.Context, g *group, kind state.Kind, key []byte, query string, more ...any) (value []byte, expires int64, found bool, err error) {
	args := append([]any{string(kind), key}, more...)
	err = g.do(ctx, &call{kind: string(kind), key: key,
		queue: func(b *pgx.Batch) { b.Queue(query, args...) },
		read: func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&value, &expires)
			found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}})
	return value, expires, found, err
}

// Take implements state.Store: one DELETE ... RETURNING. Concurrent
// takers queue on the row's lock; those after the first find it gone.
// An expired record is left to Sweep.
func (s *Store) Take(ctx context.Context, kind state.Kind, key []byte) (state.Record, error) {
	if err := s.begin(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	value, expires, found, err := s.row(ctx, &s.writes, kind, key,
		`DELETE FROM mcfed_state WHERE kind = $1 AND key = $2 AND expires > $3 RETURNING value, expires`, state.ExpiryNanos(s.now()))
	if err != nil {
		return state.Record{}, s.fail(err)
	}
	if !found {
		return state.Record{}, state.ErrNotFound
	}
	return record(value, expires), nil
}

// Delete implements state.Store.
func (s *Store) Delete(ctx context.Context, kind state.Kind, key []byte) error {
	if err := s.begin(kind, key, nil); err != nil {
		return err
	}
	return s.fail(s.writes.do(ctx, &call{kind: string(kind), key: key,
		queue: func(b *pgx.Batch) { b.Queue(deleteSQL, string(kind), key) },
		read:  execOne}))
}

// Scan implements state.Store. The prefix becomes a key range, so that
// the primary key's index bounds the scan on both sides.
func (s *Store) Scan(ctx context.Context, kind state.Kind, prefix, after []byte, limit int) ([]state.Entry, error) {
	if err := s.begin(kind, []byte{0}, nil); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	const sel = `SELECT key, value, expires FROM mcfed_state
		WHERE kind = $1 AND key >= $2 AND key > $3 AND expires > $4`
	args := []any{string(kind), nonNil(prefix), nonNil(after), state.ExpiryNanos(s.now()), limit}
	query := sel + ` ORDER BY key LIMIT $5`
	if end := prefixEnd(prefix); end != nil {
		query = sel + ` AND key < $6 ORDER BY key LIMIT $5`
		args = append(args, end)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	var out []state.Entry
	var key, value []byte
	var expires int64
	_, err = pgx.ForEachRow(rows, []any{&key, &value, &expires}, func() error {
		out = append(out, state.Entry{Key: key, Record: record(value, expires)})
		return nil
	})
	return out, s.fail(err)
}

// prefixEnd is the least key greater than every key beginning with
// prefix, or nil when there is none (the prefix is empty or all 0xff).
func prefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := append([]byte{}, prefix[:i+1]...)
			end[i]++
			return end
		}
	}
	return nil
}

// sweepBatch bounds one Sweep statement: its row locks are held only for
// so many rows, and a node sweeping a large backlog does not hold up the
// others' writes.
const sweepBatch = 1000

// Sweep implements state.Store, in statements of at most sweepBatch rows.
// Rows another node is writing or sweeping are skipped (SKIP LOCKED):
// two nodes sweeping at once share the work instead of queueing.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if s.closed.Load() {
		return 0, state.ErrClosed
	}
	n := 0
	for n < limit {
		batch := min(limit-n, sweepBatch)
		// By ctid (the rows are locked, so it holds still): deleting by
		// (kind, key) IN (...) made PostgreSQL 15 join against every
		// expired row, 166 ms a batch with 150,000 of them, 0.24 ms so.
		tag, err := s.pool.Exec(ctx, `DELETE FROM mcfed_state WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM mcfed_state WHERE expires <= $1
				ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED))
			AND expires <= $1`,
			state.ExpiryNanos(s.now()), batch)
		if err != nil {
			return n, s.fail(err)
		}
		n += int(tag.RowsAffected())
		if tag.RowsAffected() < int64(batch) {
			break
		}
	}
	return n, nil
}

// maxUpdateTries bounds Update's locked retries. A conflict there needs a
// concurrent first insert of an absent key, and the retry finds that row
// and queues on its lock.
const maxUpdateTries = 10

// errRetry is an attempt's conflict with a concurrent writer.
var errRetry = errors.New("conflict")

// Update implements state.Store. It tries once optimistically (updateOnce:
// a read, then a write only if the row is unchanged; two statements) and,
// when another writer came in between, in a transaction that locks the row
// (SELECT ... FOR UPDATE), where contending updaters queue instead of
// failing each other. When the key has no row there is nothing to lock:
// two callers may both insert, and the second's INSERT finds the first's
// row; it starts again, and locks that row.
func (s *Store) Update(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error) {
	if err := s.begin(kind, key, nil); err != nil {
		return state.Record{}, err
	}
	if rec, err := s.updateOnce(ctx, kind, key, fn); !errors.Is(err, errRetry) {
		return rec, err
	}
	for try := 1; ; try++ {
		rec, err := s.updateLocked(ctx, kind, key, fn)
		if !errors.Is(err, errRetry) {
			return rec, err
		}
		if try == maxUpdateTries {
			return state.Record{}, fmt.Errorf("state: postgres: Update gave up after %d conflicts", try)
		}
	}
}

func (s *Store) updateOnce(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error) {
	// Optimistic: read the row, call fn, and write only if the row is
	// still what was read (the same value and expiry), each one statement
	// in its own implicit transaction; a write that finds the row changed
	// (or gone, or inserted meanwhile) changed nothing and starts again.
	// Two round trips instead of a transaction's four, and no row lock
	// held while fn runs. A row changed and changed back to the very same
	// value and expiry in between is indistinguishable from no change, and
	// writing over it is what a write ordered after those would do.
	// The read and the write each go in their group's next pipeline.
	now := s.now()
	value, expires, exists, err := s.read(ctx, kind, key)
	if err != nil {
		return state.Record{}, s.txFail(err)
	}
	rec, err := s.call(now, kind, key, value, expires, exists, fn)
	if err != nil {
		return state.Record{}, err
	}
	var query string
	var args []any
	switch {
	case !now.Before(rec.Expires) && !exists:
		return state.Record{}, nil
	case !now.Before(rec.Expires):
		query = `DELETE FROM mcfed_state WHERE kind = $1 AND key = $2 AND value = $3 AND expires = $4`
		args = []any{string(kind), key, nonNil(value), expires}
	case exists:
		query = `UPDATE mcfed_state SET value = $5, expires = $6
			WHERE kind = $1 AND key = $2 AND value = $3 AND expires = $4`
		args = []any{string(kind), key, nonNil(value), expires, nonNil(rec.Value), state.ExpiryNanos(rec.Expires)}
	default:
		query = `INSERT INTO mcfed_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, key) DO NOTHING`
		args = []any{string(kind), key, nonNil(rec.Value), state.ExpiryNanos(rec.Expires)}
	}
	var written bool
	err = s.writes.do(ctx, &call{kind: string(kind), key: key,
		queue: func(b *pgx.Batch) { b.Queue(query, args...) },
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			written = tag.RowsAffected() == 1
			return err
		}})
	if err != nil {
		return state.Record{}, s.txFail(err)
	}
	if !written {
		return state.Record{}, errRetry
	}
	if !now.Before(rec.Expires) {
		return state.Record{}, nil
	}
	return rec, nil
}

// updateLocked is Update's attempt in a transaction that holds the row's
// lock while fn runs.
func (s *Store) updateLocked(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error) {
	// Read committed, as the connection's default is (Open): the row
	// lock is what orders updaters; a stricter level would fail all but
	// one of them at each write instead.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return state.Record{}, s.fail(err)
	}
	defer tx.Rollback(ctx)
	now := s.now()
	var value []byte
	var expires int64
	exists := true
	err = tx.QueryRow(ctx, `SELECT value, expires FROM mcfed_state WHERE kind = $1 AND key = $2 FOR UPDATE`, string(kind), key).Scan(&value, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		exists = false
	} else if err != nil {
		return state.Record{}, s.txFail(err)
	}
	rec, err := s.call(now, kind, key, value, expires, exists, fn)
	if err != nil {
		return state.Record{}, err
	}
	if !now.Before(rec.Expires) {
		if exists {
			if _, err := tx.Exec(ctx, `DELETE FROM mcfed_state WHERE kind = $1 AND key = $2`, string(kind), key); err != nil {
				return state.Record{}, s.txFail(err)
			}
		}
		return state.Record{}, s.txFail(tx.Commit(ctx))
	}
	if exists {
		_, err = tx.Exec(ctx, `UPDATE mcfed_state SET value = $3, expires = $4 WHERE kind = $1 AND key = $2`,
			string(kind), key, nonNil(rec.Value), state.ExpiryNanos(rec.Expires))
	} else {
		var tag pgconn.CommandTag
		tag, err = tx.Exec(ctx, `INSERT INTO mcfed_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, key) DO NOTHING`,
			string(kind), key, nonNil(rec.Value), state.ExpiryNanos(rec.Expires))
		if err == nil && tag.RowsAffected() == 0 {
			return state.Record{}, errRetry
		}
	}
	if err != nil {
		return state.Record{}, s.txFail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return state.Record{}, s.txFail(err)
	}
	return rec, nil
}

// call is Update's call of fn with the row as read (value, expires,
// exists): with the live record, or found false when there is none or it
// expired. It checks fn's answer.
func (s *Store) call(now time.Time, kind state.Kind, key, value []byte, expires int64, exists bool,
	fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error) {
	var old state.Record
	found := exists && expires > state.ExpiryNanos(now)
	if found {
		old = record(value, expires)
	}
	rec, err := fn(old, found)
	if err != nil {
		return state.Record{}, err
	}
	if err := state.Check(kind, key, rec.Value); err != nil {
		return state.Record{}, err
	}
	return rec, nil
}

// txFail is fail, but a conflict a retry resolves is errRetry: a unique
// violation, a serialization failure (a database whose default isolation
// is serializable or repeatable read) or a deadlock.
func (s *Store) txFail(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "40001", "40P01":
			return errRetry
		}
	}
	return s.fail(err)
}
