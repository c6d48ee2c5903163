package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mcfed/mcfed/operator/state"
)

// Spend implements state.Store: one statement (mcfed_spend, schema.go)
// in the writes' next pipeline.
func (s *Store) Spend(ctx context.Context, counters ...state.Counter) (int, error) {
	if err := state.CheckCounters(counters); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, state.ErrClosed
	}
	if len(counters) == 0 {
		return -1, nil
	}
	n := len(counters)
	kinds, keys, limits, expires := make([]string, n), make([][]byte, n), make([]int64, n), make([]int64, n)
	for i, c := range counters {
		kinds[i], keys[i], limits[i], expires[i] = string(c.Kind), c.Key, c.Limit, state.ExpiryNanos(c.Expires)
	}
	var stop int32
	err := s.writes.do(ctx, &call{kind: kinds[0], key: keys[0],
		queue: func(b *pgx.Batch) {
			b.Queue(`SELECT mcfed_spend($1, $2, $3, $4, $5)`, kinds, keys, limits, expires, state.ExpiryNanos(s.now()))
		},
		read: func(br pgx.BatchResults) error { return br.QueryRow().Scan(&stop) }})
	if err != nil {
		return 0, s.fail(err)
	}
	return int(stop), nil
}
