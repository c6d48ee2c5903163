package postgres

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mcfed/mcfed/operator/state"
)

// bulkOps are the puts, or the deletes, of one Batch: the puts as one
// statement, so that PostgreSQL binds, plans and runs one statement
// instead of one an op (a token's Batch is five puts), and answers once.
type bulkOps struct {
	del bool
	ops []state.Op
}

// bulkPutSQL is the statement of n puts: a multi-row INSERT, whose rows
// are written in their order, which is key order (bulk): two nodes'
// batches lock their rows in one order. A list of VALUES, not unnest'ed
// arrays: PostgreSQL keeps its plan (pgx prepares one statement an n)
// rather than planning it anew at each call.
func bulkPutSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO mcfed_state (kind, key, value, expires) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4)
	}
	b.WriteString(` ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires`)
	return b.String()
}

// queue appends q's statements: the puts' one, or a delete's each.
func (q *bulkOps) queue(b *pgx.Batch) {
	if q.del {
		for _, op := range q.ops {
			b.Queue(deleteSQL, string(op.Kind), op.Key)
		}
		return
	}
	args := make([]any, 0, 4*len(q.ops))
	for _, op := range q.ops {
		args = append(args, string(op.Kind), op.Key, nonNil(op.Value), state.ExpiryNanos(op.Expires))
	}
	b.Queue(bulkPutSQL(len(q.ops)), args...)
}

// statements is how many statements queue appends (none for nil).
func (q *bulkOps) statements() int {
	switch {
	case q == nil:
		return 0
	case q.del:
		return len(q.ops)
	}
	return 1
}

// bulk splits a batch of more than one op into its puts and its deletes
// (nil when there are none), each in key order, when no two ops are on
// one key: then the order the batch gave them does not change what it
// writes. ok is false otherwise (one key written twice: an INSERT ... ON
// CONFLICT cannot touch a row twice, and the order matters).
func bulk(ops []state.Op) (puts, dels *bulkOps, ok bool) {
	if len(ops) < 2 {
		return nil, nil, false
	}
	sorted := slices.Clone(ops)
	slices.SortFunc(sorted, func(a, b state.Op) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), bytes.Compare(a.Key, b.Key))
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Kind == sorted[i-1].Kind && bytes.Equal(sorted[i].Key, sorted[i-1].Key) {
			return nil, nil, false
		}
	}
	for _, op := range sorted {
		if op.Delete {
			if dels == nil {
				dels = &bulkOps{del: true}
			}
			dels.ops = append(dels.ops, op)
		} else {
			if puts == nil {
				puts = &bulkOps{}
			}
			puts.ops = append(puts.ops, op)
		}
	}
	return puts, dels, true
}
