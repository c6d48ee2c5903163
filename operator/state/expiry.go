package state

import (
	"math"
	"time"
)

// The instants int64 nanoseconds since 1970 can hold (1677 to 2262).
var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// ExpiryNanos is t in Unix nanoseconds, as both backends store an expiry,
// clamped to what an int64 holds: time.UnixNano is undefined outside it
// and wraps in practice, which would make a record given the zero time
// (or the year 1600) live for centuries and one given the year 3000
// expired at once. Clamped, a time before 1678 is long past and one after
// 2262 is as good as never.
func ExpiryNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}
