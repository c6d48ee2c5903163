package postgres

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/mcfed/mcfed/operator/state"
)

// bulkOps are the puts, or the deletes, of one Batch as one statement:
// PostgreSQL binds, plans and runs one statement instead of one an op (a
// token's Batch is five puts), and answers once.
type bulkOps struct {
	del     bool
	kinds   []string
	keys    [][]byte
	values  [][]byte
	expires []int64
}

// The statements of more than one op. The rows are written in the
// arrays' order, which is key order (bulk): two nodes' batches lock
// their rows in one order.
const (
	bulkPutSQL = `INSERT INTO mcfed_state (kind, key, value, expires)
	SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bigint[])
	ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires`
	bulkDeleteSQL = `DELETE FROM mcfed_state s USING unnest($1::text[], $2::bytea[]) AS q(kind, key)
	WHERE s.kind = q.kind AND s.key = q.key`
)

func (q *bulkOps) add(op state.Op) {
	q.kinds, q.keys = append(q.kinds, string(op.Kind)), append(q.keys, op.Key)
	if !q.del {
		q.values, q.expires = append(q.values, nonNil(op.Value)), append(q.expires, state.ExpiryNanos(op.Expires))
	}
}

// queue appends q's statement: one op's own when it has one.
func (q *bulkOps) queue(b *pgx.Batch) {
	switch {
	case len(q.keys) == 1 && q.del:
		b.Queue(deleteSQL, q.kinds[0], q.keys[0])
	case len(q.keys) == 1:
		b.Queue(putSQL, q.kinds[0], q.keys[0], q.values[0], q.expires[0])
	case q.del:
		b.Queue(bulkDeleteSQL, q.kinds, q.keys)
	default:
		b.Queue(bulkPutSQL, q.kinds, q.keys, q.values, q.expires)
	}
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
			dels.add(op)
		} else {
			if puts == nil {
				puts = &bulkOps{}
			}
			puts.add(op)
		}
	}
	return puts, dels, true
}
