package registry

// Benchmarks of the registry as discovery uses it, at national scale: one
// large country's mobile numbering plan (India: +91, ten-digit national
// numbers beginning 6-9, a span of 4e9 numbers), MCFED_BENCH_RANGES ranges
// (seven-digit national prefixes) spread over six operators, and
// MCFED_BENCH_PORTED ported numbers drawn uniformly from the whole span,
// loaded through Apply as the FSM would.
//
//	MCFED_BENCH_PORTED=100000000 MCFED_BENCH_RANGES=1000000 \
//	  go test -run '^$' -bench 'Registry' -benchtime 2s -timeout 60m ./registry/

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	benchSpanStart = 916000000000 // +91 6000000000
	benchSpan      = 4000000000
)

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type benchFixture struct {
	r            *Registry
	ported       []uint64 // a sample of the ported numbers, for hits
	heapRanges   uint64   // heap the ranges added
	heapPorted   uint64   // heap the ported numbers added
	loadRanges   time.Duration
	loadPorted   time.Duration
	nRanges      int
	nPorted      int
	nextIndex    uint64
	operatorsIDs []string
}

var (
	benchOnce sync.Once
	bench     *benchFixture
)

func registryFixture(b *testing.B) *benchFixture {
	benchOnce.Do(func() {
		f := &benchFixture{r: New(), nRanges: benchEnv("MCFED_BENCH_RANGES", 100000), nPorted: benchEnv("MCFED_BENCH_PORTED", 1000000)}
		apply := func(cmd []byte) {
			f.nextIndex++
			if err := f.r.Apply(f.nextIndex, cmd); err != nil {
				panic(err)
			}
		}
		for i := range 6 {
			id := fmt.Sprintf("op%d", i)
			f.operatorsIDs = append(f.operatorsIDs, id)
			apply(MustEncode(CmdPutOperator, Operator{ID: id, Name: id, Country: "IN", Currency: "INR",
				Networks: []string{fmt.Sprintf("404_%02d", 10+i)}, Issuer: "https://" + id + ".example/", Status: StatusActive}))
		}
		rng := rand.New(rand.NewPCG(1, 2))

		// Ranges: distinct seven-digit national prefixes 6000000..9999999.
		h0 := portedHeap()
		start := time.Now()
		perm := rng.Perm(4000000)[:min(f.nRanges, 4000000)]
		batch := RangeBatch{}
		for i, p := range perm {
			batch.Ranges = append(batch.Ranges, Range{Prefix: "+91" + strconv.Itoa(6000000+p), Operator: f.operatorsIDs[i%6]})
			if len(batch.Ranges) == 1000 || i == len(perm)-1 {
				apply(MustEncode(CmdPutRanges, batch))
				batch.Ranges = batch.Ranges[:0]
			}
		}
		f.loadRanges = time.Since(start)
		h1 := portedHeap()
		f.heapRanges = h1 - h0

		// Ported numbers: generated, sorted (as the import sorts its file)
		// and applied in commands of 1M rows. The scratch slice is freed
		// before the heap is measured.
		start = time.Now()
		nums := make([]uint64, f.nPorted)
		for i := range nums {
			nums[i] = benchSpanStart + rng.Uint64N(benchSpan)
		}
		slices.Sort(nums)
		nums = slices.Compact(nums)
		f.nPorted = len(nums)
		for lo := 0; lo < len(nums); lo += 1000000 {
			part := nums[lo:min(lo+1000000, len(nums))]
			ps := make([]Port, len(part))
			for i, n := range part {
				ps[i] = Port{Number: n, Operator: f.operatorsIDs[n%6]}
			}
			cmd, err := EncodePorts(ps)
			if err != nil {
				panic(err)
			}
			apply(cmd)
		}
		f.loadPorted = time.Since(start)
		for i := 0; i < len(nums); i += max(1, len(nums)/1000000) {
			f.ported = append(f.ported, nums[i])
		}
		rng.Shuffle(len(f.ported), func(i, j int) { f.ported[i], f.ported[j] = f.ported[j], f.ported[i] })
		nums = nil
		f.heapPorted = portedHeap() - h1 - uint64(len(f.ported))*8
		bench = f
	})
	return bench
}

// percentiles times single calls of fn, and returns the median and p99 in
// nanoseconds, net of the clock's own cost measured the same way.
func percentiles(samples int, fn func(i int)) (p50, p99 float64) {
	clock := make([]int64, samples)
	for i := range clock {
		t0 := time.Now()
		clock[i] = time.Since(t0).Nanoseconds()
	}
	slices.Sort(clock)
	overhead := clock[len(clock)/2]
	d := make([]int64, samples)
	for i := range d {
		t0 := time.Now()
		fn(i)
		d[i] = time.Since(t0).Nanoseconds() - overhead
	}
	slices.Sort(d)
	return float64(d[len(d)/2]), float64(d[len(d)*99/100])
}

func BenchmarkRegistryLoad(b *testing.B) {
	f := registryFixture(b)
	b.ReportMetric(float64(f.nRanges), "ranges")
	b.ReportMetric(float64(f.nPorted), "ported")
	b.ReportMetric(float64(f.heapPorted)/float64(f.nPorted), "B/ported")
	b.ReportMetric(float64(f.heapRanges)/float64(f.nRanges), "B/range")
	b.ReportMetric(f.loadRanges.Seconds(), "s-load-ranges")
	b.ReportMetric(f.loadPorted.Seconds(), "s-load-ported")
	for range b.N {
	}
}

// BenchmarkRegistryResolveRandom resolves numbers drawn from the whole
// span: mostly not ported, so a ported-index miss then a range lookup.
func BenchmarkRegistryResolveRandom(b *testing.B) {
	f := registryFixture(b)
	rng := rand.New(rand.NewPCG(3, 4))
	q := make([]uint64, 1<<20)
	for i := range q {
		q[i] = benchSpanStart + rng.Uint64N(benchSpan)
	}
	p50, p99 := percentiles(200000, func(i int) { f.r.Resolve(q[i&(len(q)-1)]) })
	b.ResetTimer()
	found := 0
	for i := range b.N {
		if _, ok := f.r.Resolve(q[i&(len(q)-1)]); ok {
			found++
		}
	}
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	if b.N > 1000 && found == 0 {
		b.Fatal("no random number resolved: the fixture has no ranges")
	}
}

// BenchmarkRegistryResolvePorted resolves ported numbers: a ported-index
// hit.
func BenchmarkRegistryResolvePorted(b *testing.B) {
	f := registryFixture(b)
	p50, p99 := percentiles(200000, func(i int) { f.r.Resolve(f.ported[i%len(f.ported)]) })
	b.ResetTimer()
	for i := range b.N {
		res, ok := f.r.Resolve(f.ported[i%len(f.ported)])
		if !ok || !res.Ported {
			b.Fatal("a ported number did not resolve as ported")
		}
	}
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
}

// BenchmarkRegistryApplyOnePort applies one port command into the full
// registry, as the FSM does for each port arriving through the day. Each
// round moves the same 4,096 numbers to the next operator, so every command
// changes the index (a repeat would be skipped as a no-op).
func BenchmarkRegistryApplyOnePort(b *testing.B) {
	f := registryFixture(b)
	rng := rand.New(rand.NewPCG(5, 6))
	const perRound = 4096
	nums := make([]uint64, perRound)
	for i := range nums {
		nums[i] = benchSpanStart + rng.Uint64N(benchSpan)
	}
	var cmds [][]byte
	for round := range len(f.operatorsIDs) {
		for _, n := range nums {
			cmd, _ := EncodePorts([]Port{{Number: n, Operator: f.operatorsIDs[round]}})
			cmds = append(cmds, cmd)
		}
	}
	apply := func(i int) {
		f.nextIndex++
		if err := f.r.Apply(f.nextIndex, cmds[i%len(cmds)]); err != nil {
			b.Fatal(err)
		}
	}
	p50, p99 := percentiles(len(cmds), apply)
	b.ResetTimer()
	for i := range b.N {
		apply(i)
	}
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
}

// BenchmarkRegistrySnapshotRestore writes the whole registry's snapshot to
// a file and restores it, as Raft does for a node that fell behind.
func BenchmarkRegistrySnapshotRestore(b *testing.B) {
	f := registryFixture(b)
	path := filepath.Join(b.TempDir(), "snap")
	var write, restore time.Duration
	var size int64
	for range b.N {
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		size, err = f.r.Snapshot().WriteTo(out)
		if err == nil {
			err = out.Sync()
		}
		out.Close()
		if err != nil {
			b.Fatal(err)
		}
		write += time.Since(t0)
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		r2, err := Restore(in)
		in.Close()
		if err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t0)
		if r2.PortedCount() != f.r.PortedCount() {
			b.Fatalf("restored %d ported numbers, want %d", r2.PortedCount(), f.r.PortedCount())
		}
	}
	b.ReportMetric(write.Seconds()/float64(b.N), "s-write")
	b.ReportMetric(restore.Seconds()/float64(b.N), "s-restore")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
