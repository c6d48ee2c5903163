package registry

import (
	"bytes"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the ported-number index at a size set by the environment:
//
//	MCFED_BENCH_PORTED        numbers in the index (default 1,000,000)
//	MCFED_BENCH_PORTED_RANGE  how many consecutive numbers they are drawn
//	                          from, uniformly (default 4e9: the density of a
//	                          100M-number national database)
//
// The numbers start at 440000000000 (12 digits); 6 operators (slots 1-6).
// The fixture is built once per process (one unsorted Apply of all the
// numbers) and shared by the benchmarks, e.g.
//
//	MCFED_BENCH_PORTED=100000000 go test -run '^$' -bench Ported -timeout 30m ./registry/
const portedBenchBase = 440000000000

func portedBenchEnv(name string, def uint64) uint64 {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 1 {
			return uint64(n)
		}
	}
	return def
}

type portedFixture struct {
	p            *PortedIndex
	n            int
	span         uint64
	hits, misses []uint64 // random numbers in and not in the index
	heap         uint64   // Go heap the index holds
	build        time.Duration
}

var portedFix = sync.OnceValue(func() *portedFixture {
	n := int(portedBenchEnv("MCFED_BENCH_PORTED", 1e6))
	span := portedBenchEnv("MCFED_BENCH_PORTED_RANGE", 4e9)
	if uint64(n) > span/2 {
		span = 2 * uint64(n)
	}
	const samples = 1 << 20
	f := &portedFixture{n: n, span: span, hits: make([]uint64, 0, samples), misses: make([]uint64, 0, samples)}
	rng := rand.New(rand.NewPCG(20260101, 1))
	draw := func(rows []PortRow) {
		for i := range rows {
			rows[i] = PortRow{Number: portedBenchBase + rng.Uint64N(span), Slot: Slot(1 + rng.IntN(6))}
		}
	}

	h0 := portedHeap()
	rows := make([]PortRow, n)
	draw(rows)
	f.p = NewPortedIndex()
	start := time.Now()
	f.p.Apply(rows) // unsorted, with duplicates: one big batch
	for f.p.Len() < n {
		extra := rows[:n-f.p.Len()]
		draw(extra)
		f.p.Apply(extra)
	}
	f.build = time.Since(start)
	for range samples {
		f.hits = append(f.hits, rows[rng.IntN(n)].Number)
	}
	rows = nil
	f.heap = portedHeap() - h0
	for len(f.misses) < samples {
		x := portedBenchBase + rng.Uint64N(span)
		if _, ok := f.p.Lookup(x); !ok {
			f.misses = append(f.misses, x)
		}
	}
	return f
})

func portedHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func portedFixtureFor(b *testing.B) *portedFixture {
	b.Helper()
	f := portedFix()
	b.ReportMetric(float64(f.p.Len()), "numbers")
	return f
}

// portedTimerCost is the median cost of two back-to-back clock reads, to
// subtract from timed single operations.
func portedTimerCost() float64 {
	ds := make([]float64, 10001)
	for i := range ds {
		t := time.Now()
		ds[i] = float64(time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

var portedBenchSink uint64

// portedLatency times single lookups, each alone: of numbers in the index
// (hits) and not in it (misses), interleaved at random. Interleaved with
// them, it times the part no lookup can avoid: finding the block (directory
// and page, which stay in cache) and reading its first byte from memory.
// That floor moves with the machine's memory latency (on a shared VM, from
// minute to minute), so it is the yardstick for the lookups' figures. It
// returns medians and 90th percentiles in ns, less the clock's own cost.
func portedLatency(f *portedFixture) (hit, hit90, miss, miss90, floor float64) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ds [3][]float64
	var sink uint64
	for i := range 300000 {
		// The samples are random already: reading them in order keeps
		// them from evicting the index from the cache.
		v := rng.IntN(3)
		qs := f.hits
		if v == 1 {
			qs = f.misses
		}
		q := qs[i%len(qs)]
		if v == 2 {
			t := time.Now()
			d := f.p.dir.Load()
			pg := d.find(q>>portedPageShift + 1).page.Load()
			b := pg.blocks[(q>>16)&(portedPageBlocks-1)].Load()
			x := *b
			ds[v] = append(ds[v], float64(time.Since(t)))
			sink += uint64(x)
			continue
		}
		t := time.Now()
		s, _ := f.p.Lookup(q)
		ds[v] = append(ds[v], float64(time.Since(t)))
		sink += uint64(s)
	}
	portedBenchSink += sink
	tc := portedTimerCost()
	for _, x := range ds {
		slices.Sort(x)
	}
	q := func(x []float64, f float64) float64 { return x[int(float64(len(x))*f)] - tc }
	return q(ds[0], 0.5), q(ds[0], 0.9), q(ds[1], 0.5), q(ds[1], 0.9), q(ds[2], 0.5)
}

func benchmarkPortedLookup(b *testing.B, hit bool) {
	f := portedFixtureFor(b)
	qs := f.misses
	if hit {
		qs = f.hits
	}
	b.ResetTimer()
	var sink Slot
	for i := range b.N {
		s, ok := f.p.Lookup(qs[i&(len(qs)-1)])
		if ok != hit {
			b.Fatal("lookup gave the wrong answer")
		}
		sink += s
	}
	b.StopTimer()
	portedBenchSink += uint64(sink)
	h, h90, m, m90, floor := portedLatency(f)
	if !hit {
		h, h90 = m, m90
	}
	b.ReportMetric(h, "median-ns")
	b.ReportMetric(h90, "p90-ns")
	b.ReportMetric(floor, "floor-ns")
}

// BenchmarkPortedLookupHit looks up random numbers that are in the index.
// ns/op is a throughput figure (independent lookups overlap); median-ns and
// p90-ns are the latency of one lookup, timed alone; floor-ns is the
// latency of the one memory access every lookup needs (see portedLatency).
func BenchmarkPortedLookupHit(b *testing.B) { benchmarkPortedLookup(b, true) }

// BenchmarkPortedLookupMiss looks up random numbers of the same range that
// are not in the index.
func BenchmarkPortedLookupMiss(b *testing.B) { benchmarkPortedLookup(b, false) }

// BenchmarkPortedLookupParallel is lookups from every core at once.
func BenchmarkPortedLookupParallel(b *testing.B) {
	f := portedFixtureFor(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			f.p.Lookup(f.hits[rng.IntN(len(f.hits))])
		}
	})
}

// BenchmarkPortedSet is one write into the full index: "new" ports a number
// that was not ported, "re-port" moves a ported number to another operator.
// Each op is also timed alone (median-ns). The index is restored afterwards.
func BenchmarkPortedSet(b *testing.B) {
	f := portedFixtureFor(b)
	b.Run("new", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(7, 7))
		targets := make([]uint64, 0, b.N)
		seen := map[uint64]bool{}
		for len(targets) < b.N {
			x := portedBenchBase + rng.Uint64N(f.span)
			if _, ok := f.p.Lookup(x); !ok && !seen[x] {
				seen[x] = true
				targets = append(targets, x)
			}
		}
		ds := make([]float64, b.N)
		b.ResetTimer()
		for i, x := range targets {
			t := time.Now()
			f.p.Set(x, 3)
			ds[i] = float64(time.Since(t))
		}
		b.StopTimer()
		for _, x := range targets {
			f.p.Delete(x)
		}
		slices.Sort(ds)
		b.ReportMetric(ds[len(ds)/2], "median-ns")
		b.ReportMetric(ds[len(ds)*99/100], "p99-ns")
	})
	// Re-port a ported number to another of the operators its block already
	// holds (the common case: the block keeps its palette), or to an
	// operator new to its block (the block is re-encoded).
	for _, tc := range []struct {
		name string
		to   func(s Slot, i int) Slot
	}{
		{"re-port", func(s Slot, _ int) Slot { return s%6 + 1 }},
		{"re-port-new-operator", func(_ Slot, i int) Slot { return Slot(7 + i&1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(8, 8))
			type undo struct {
				n uint64
				s Slot
			}
			undos := make([]undo, 0, b.N)
			seen := map[uint64]bool{}
			for len(undos) < b.N {
				x := f.hits[rng.IntN(len(f.hits))]
				if !seen[x] || len(seen) > len(f.hits)/2 {
					seen[x] = true
					s, _ := f.p.Lookup(x)
					undos = append(undos, undo{x, s})
				}
			}
			ds := make([]float64, b.N)
			b.ResetTimer()
			for i, u := range undos {
				t := time.Now()
				f.p.Set(u.n, tc.to(u.s, i))
				ds[i] = float64(time.Since(t))
			}
			b.StopTimer()
			for i := len(undos) - 1; i >= 0; i-- {
				f.p.Set(undos[i].n, undos[i].s)
			}
			slices.Sort(ds)
			b.ReportMetric(ds[len(ds)/2], "median-ns")
			b.ReportMetric(ds[len(ds)*99/100], "p99-ns")
		})
	}
}

// BenchmarkPortedApply10k applies batches of 10,000 unsorted new numbers to
// the full index (one op = one batch), then removes them.
func BenchmarkPortedApply10k(b *testing.B) {
	f := portedFixtureFor(b)
	rng := rand.New(rand.NewPCG(9, 9))
	batch := make([]PortRow, 10000)
	undo := make([]PortRow, 10000)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range batch {
			batch[i] = PortRow{Number: portedBenchBase + rng.Uint64N(f.span), Slot: Slot(1 + rng.IntN(6))}
			s, _ := f.p.Lookup(batch[i].Number)
			undo[i] = PortRow{Number: batch[i].Number, Slot: s}
		}
		b.StartTimer()
		f.p.Apply(batch)
		b.StopTimer()
		f.p.Apply(undo) // every row of a number carries its original slot
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e4, "ns/row")
}

// BenchmarkPortedSnapshotRestore takes a snapshot, writes its binary form
// and restores an index from it.
func BenchmarkPortedSnapshotRestore(b *testing.B) {
	f := portedFixtureFor(b)
	var buf bytes.Buffer
	var write, restore, snap time.Duration
	b.ResetTimer()
	for range b.N {
		buf.Reset()
		t0 := time.Now()
		s := f.p.Snapshot()
		t1 := time.Now()
		if _, err := s.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		q, err := ReadPortedIndex(bytes.NewReader(buf.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		snap, write, restore = snap+t1.Sub(t0), write+t2.Sub(t1), restore+t3.Sub(t2)
		if q.Len() != f.p.Len() {
			b.Fatalf("restored %d numbers, want %d", q.Len(), f.p.Len())
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(snap.Seconds()/n, "snapshot-s")
	b.ReportMetric(write.Seconds()/n, "write-s")
	b.ReportMetric(restore.Seconds()/n, "restore-s")
	b.ReportMetric(float64(buf.Len())/float64(f.p.Len()), "file-B/number")
}

// BenchmarkPortedMemory reports the Go heap the index holds (HeapAlloc
// after runtime.GC, before and after building it: everything included) and
// how long the one unsorted Apply of all the numbers took.
func BenchmarkPortedMemory(b *testing.B) {
	f := portedFixtureFor(b)
	for range b.N {
	}
	b.ReportMetric(float64(f.heap)/float64(f.p.Len()), "B/number")
	b.ReportMetric(f.build.Seconds(), "build-s")
}

// BenchmarkPortedBuild10k builds an index of the fixture's size from
// unsorted batches of 10,000 rows, as a bulk import through the log would.
func BenchmarkPortedBuild10k(b *testing.B) {
	f := portedFixtureFor(b)
	rng := rand.New(rand.NewPCG(10, 10))
	batch := make([]PortRow, 10000)
	for range b.N {
		p := NewPortedIndex()
		for p.Len() < f.n {
			rows := batch[:min(len(batch), f.n-p.Len())]
			for i := range rows {
				rows[i] = PortRow{Number: portedBenchBase + rng.Uint64N(f.span), Slot: Slot(1 + rng.IntN(6))}
			}
			p.Apply(rows)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "build-s")
}
