package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A group sends the calls that wait together as one pipeline: their
// statements in one round trip, which PostgreSQL runs as one implicit
// transaction, so that they share its commit and its WAL flush (group
// commit on the client's side, as the embedded store's committer shares
// one bbolt commit among the writes that wait together). One pipeline is
// in flight at a time; the calls that arrive meanwhile make the next. A
// call that finds none in flight goes at once, alone: nothing waits for
// company.
//
// A round trip and a synced commit are most of what a statement costs
// both sides (the node's pgx, the server's backend): measured on a login
// (dev BenchmarkLoginStores), the server's CPU went about a quarter to
// the commits' WAL flushes and nearly half to reading, answering and
// waking for each round trip; the statements themselves were the rest.
//
// The calls of one pipeline are concurrent (each caller waits for its
// own), so any order of them is one they could have had; they are sent
// in the order of their first (kind, key), so that two nodes' pipelines
// lock the rows of single-record calls in one order and do not deadlock
// each other. When a statement fails, the transaction is rolled back:
// nothing of the pipeline was written, and each call is sent again alone
// to get its own answer. When the connection fails, the outcome is not
// known, as for a lone call's, and every call gets the error. A pipeline
// that waits for a row another node's transaction holds holds up the
// calls behind it, as one bbolt commit does the next.
type group struct {
	pool    *pgxpool.Pool
	mu      sync.Mutex
	pending []*call
	running bool
}

// A call is one method's statements and how to read their results.
type call struct {
	// kind and key, of the call's first statement, order the pipeline.
	kind string
	key  []byte
	// queue appends the statements; read reads their results, in the
	// same order, keeping what the method answers in its own variables.
	// read returns only what the database said went wrong.
	queue func(b *pgx.Batch)
	read  func(br pgx.BatchResults) error
	// look, when not nil, says the call is one primary-key read of
	// (kind, key), whatever its expiry: its queue and read are that
	// row's SELECT, but a pipeline with other such calls reads them all
	// in one statement (lookupSQL) and fills in each one's look instead.
	look *lookup
	// state is callWaiting until the sender takes the call (callSent)
	// or its caller gives up on it first (callAbandoned).
	state atomic.Int32
	done  chan error
}

const (
	callWaiting int32 = iota
	callSent
	callAbandoned
)

// maxGroup bounds the calls of one pipeline (a Batch call may hold up to
// state.MaxBatch statements).
const maxGroup = 64

// groupTimeout bounds the round trip of a pipeline of waiting calls: the
// callers' contexts do not end it (each caller stops waiting when its own
// ends).
const groupTimeout = time.Minute

// do runs c in the next pipeline and returns its error. When ctx ends
// before c is sent, c is not run, and do returns ctx's error; after, c
// runs, and do returns ctx's error without waiting for the outcome (which,
// as for any call whose context ends, may or may not have been written).
func (g *group) do(ctx context.Context, c *call) error {
	c.done = make(chan error, 1)
	g.mu.Lock()
	if !g.running {
		// Alone: sent at once, by its caller, under its context, as a
		// call without a group would be; the calls that arrive meanwhile
		// make the next pipeline, which a goroutine sends.
		g.running = true
		g.mu.Unlock()
		c.state.Store(callSent)
		g.send(ctx, []*call{c})
		g.mu.Lock()
		if len(g.pending) > 0 {
			go g.run()
		} else {
			g.running = false
		}
		g.mu.Unlock()
		return <-c.done
	}
	g.pending = append(g.pending, c)
	g.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		c.state.CompareAndSwap(callWaiting, callAbandoned)
		return ctx.Err()
	}
}

// run sends pipelines until no call waits.
func (g *group) run() {
	for {
		g.mu.Lock()
		calls := g.pending
		if len(calls) > maxGroup {
			calls, g.pending = calls[:maxGroup:maxGroup], calls[maxGroup:]
		} else {
			g.pending = nil
		}
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		calls = slices.DeleteFunc(calls, func(c *call) bool { return !c.state.CompareAndSwap(callWaiting, callSent) })
		if len(calls) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
			g.send(ctx, calls)
			cancel()
		}
	}
}

// send runs calls as one pipeline and answers each.
func (g *group) send(ctx context.Context, calls []*call) {
	slices.SortStableFunc(calls, func(a, b *call) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), slices.Compare(a.key, b.key))
	})
	err := g.exec(ctx, calls)
	var pgErr *pgconn.PgError
	if err != nil && len(calls) > 1 && errors.As(err, &pgErr) {
		// Rolled back: each alone, for its own answer.
		for _, c := range calls {
			c.done <- g.exec(ctx, []*call{c})
		}
		return
	}
	for _, c := range calls {
		c.done <- err
	}
}

// exec sends calls' statements in one round trip and reads the results.
// The primary-key reads among them (call.look), when there are several,
// are one statement: PostgreSQL's work for a statement (binding,
// planning, starting and ending the executor, answering) is paid once
// instead of once a read (dev BenchmarkLoginStores: a login's 13.5 reads
// went in 6.1 to 6.2 pipelines, 6.1 to 6.2 statements, where 15.3 reads
// were 15.3 statements).
func (g *group) exec(ctx context.Context, calls []*call) error {
	var looks []*call
	for _, c := range calls {
		if c.look != nil {
			looks = append(looks, c)
		}
	}
	merged := len(looks) > 1
	var b pgx.Batch
	for _, c := range calls {
		if !merged || c.look == nil {
			c.queue(&b)
		}
	}
	if merged {
		args := make([]any, 0, 2*len(looks))
		for _, c := range looks {
			args = append(args, c.look.kind, c.look.key)
		}
		b.Queue(lookupSQL(len(looks)), args...)
	}
	br := g.pool.SendBatch(ctx, &b)
	var err error
	for _, c := range calls {
		if !merged || c.look == nil {
			if err = c.read(br); err != nil {
				break
			}
		}
	}
	if err == nil && merged {
		err = readLookups(br, looks)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// lookupSQL reads the rows of n (kind, key) at once, with each one's place
// in the list (from 1): the arguments are the kinds and keys in turn.
// Each is its own index lookup (the LIMIT keeps the subquery a lookup a
// row of q: as a join, the planner took a hash join over the whole
// table). A list of VALUES, not an array: PostgreSQL then knows n in the
// plan it keeps (pgx prepares one statement an n), and keeps it; with
// unnest, a custom plan, which knows the array's length, looked cheaper,
// and every call was planned anew.
func lookupSQL(n int) string {
	var b strings.Builder
	b.WriteString(`SELECT q.i, s.value, s.expires FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, $%d::text, $%d::bytea)", i+1, 2*i+1, 2*i+2)
	}
	b.WriteString(`) AS q(i, kind, key)
	CROSS JOIN LATERAL (SELECT value, expires FROM mcfed_state
		WHERE kind = q.kind AND key = q.key LIMIT 1) s`)
	return b.String()
}

// readLookups fills in the looks lookupSQL found.
func readLookups(br pgx.BatchResults, looks []*call) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	var i int64
	var value []byte
	var expires int64
	_, err = pgx.ForEachRow(rows, []any{&i, &value, &expires}, func() error {
		if i < 1 || int(i) > len(looks) {
			return fmt.Errorf("a lookup answered row %d of %d", i, len(looks))
		}
		l := looks[i-1].look
		l.value, l.expires, l.found = value, expires, true // value: pgx's copy
		return nil
	})
	return err
}

// A lookup is a primary-key read and, once its call is done, its answer.
type lookup struct {
	kind    string
	key     []byte
	value   []byte
	expires int64
	found   bool
}
