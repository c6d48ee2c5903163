package conformance

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Benchmark measures each method of the store open returns, one
// sub-benchmark per method, so that backends compare by name
// (`go test -run '^$' -bench . -benchtime 300x`). One store serves all
// the sub-benchmarks; each run writes its own kind, so earlier runs'
// records only make the table larger, as a node's is. Values are 100
// bytes, about a code's or a session's record. Besides the time, each
// reports cpu-ns/op: the CPU the process used, plus serverCPU's (a
// database server's, when not nil; also alone as db-cpu-ns/op), since a
// store's cost per call is the machine's, not only its caller's.
func Benchmark(b *testing.B, open func(b *testing.B) state.Store, serverCPU func() (time.Duration, error)) {
	s := open(b)
	meter := func(b *testing.B) func() { return startMeter(b, serverCPU) }
	var runs atomic.Int64
	// kind returns a kind no earlier run used.
	kind := func(name string) state.Kind {
		return state.Kind(fmt.Sprintf("bench.%s.%d", name, runs.Add(1)))
	}
	value := make([]byte, 100)
	later := func() time.Time { return time.Now().Add(time.Hour) }
	key := func(i int) []byte { return []byte("key-" + strconv.Itoa(i)) }
	fill := func(b *testing.B, k state.Kind, n int, expires time.Time) {
		b.Helper()
		fillParallel(b, s, k, n, value, expires, key)
	}

	b.Run("Put", func(b *testing.B) {
		k := kind("put")
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if err := s.Put(bg, k, key(i%1000), value, later()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutParallel", func(b *testing.B) {
		// Writers of different keys at once, as a node's logins are:
		// what a backend's commits can share (the embedded store's
		// committer groups waiting writes; PostgreSQL's commits share
		// WAL flushes).
		k := kind("putparallel")
		defer meter(b)()
		var next atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Put(bg, k, key(int(next.Add(1))), value, later()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Create", func(b *testing.B) {
		k := kind("create")
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if err := s.Create(bg, k, key(i), value, later()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		k := kind("get")
		fill(b, k, 1000, later())
		b.ResetTimer()
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if _, err := s.Get(bg, k, key(i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetParallel", func(b *testing.B) {
		// Readers of different keys at once, as a node's logins are:
		// what a backend's reads can share (PostgreSQL's pipeline of
		// them, one statement).
		k := kind("getparallel")
		fill(b, k, 1000, later())
		b.ResetTimer()
		defer meter(b)()
		var next atomic.Int64
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(bg, k, key(int(next.Add(1))%1000)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Take", func(b *testing.B) {
		k := kind("take")
		fill(b, k, b.N, later())
		b.ResetTimer()
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if _, err := s.Take(bg, k, key(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		k := kind("update")
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if _, err := s.Update(bg, k, key(i%100), increment(later())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateContended", func(b *testing.B) {
		// Every caller increments one counter: the send limit's case.
		k := kind("contended")
		defer meter(b)()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Update(bg, k, []byte("counter"), increment(later())); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Batch4", func(b *testing.B) {
		// A login's writes of one act: three records put and one
		// removed, as one Batch.
		k := kind("batch")
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			ops := []state.Op{{Kind: k, Key: key(4 * i), Value: value, Expires: later()},
				{Kind: k, Key: key(4*i + 1), Value: value, Expires: later()},
				{Kind: k, Key: key(4*i + 2), Value: value, Expires: later()},
				{Kind: k, Key: key(4*i - 1), Delete: true}}
			if err := s.Batch(bg, ops...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Delete", func(b *testing.B) {
		k := kind("delete")
		fill(b, k, b.N, later())
		b.ResetTimer()
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if err := s.Delete(bg, k, key(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Scan10", func(b *testing.B) {
		k := kind("scan")
		fill(b, k, 1000, later())
		b.ResetTimer()
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			es, err := s.Scan(bg, k, []byte("key-"), key(i%900), 10)
			if err != nil || len(es) != 10 {
				b.Fatalf("Scan: %d entries, %v", len(es), err)
			}
		}
	})
	b.Run("Sweep100", func(b *testing.B) {
		// One op is one Sweep removing 100 expired records.
		k := kind("sweep")
		fill(b, k, 100*b.N, time.Now().Add(-time.Hour))
		b.ResetTimer()
		defer meter(b)()
		for i := 0; i < b.N; i++ {
			if n, err := s.Sweep(bg, 100); err != nil || n != 100 {
				b.Fatalf("Sweep = %d, %v", n, err)
			}
		}
	})
}

func increment(expires time.Time) func(state.Record, bool) (state.Record, error) {
	return func(old state.Record, found bool) (state.Record, error) {
		n := 0
		if found {
			n, _ = strconv.Atoi(string(old.Value))
		}
		return state.Record{Value: []byte(strconv.Itoa(n + 1)), Expires: expires}, nil
	}
}

// fillParallel puts n records with a few callers: a benchmark's setup on
// PostgreSQL is otherwise as long as the benchmark.
func fillParallel(b *testing.B, s state.Store, k state.Kind, n int, value []byte, expires time.Time, key func(int) []byte) {
	const callers = 4
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += callers {
				if err := s.Put(bg, k, key(i), value, expires); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
