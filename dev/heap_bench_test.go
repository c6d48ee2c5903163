//go:build unix

package dev

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/smpp"
)

// BenchmarkLoginHeap (issue 15, item 4) runs b.N whole logins on the UK
// operator's node, as BenchmarkLogin does, after 2,000 to warm its caches
// and pools, and reports the process's CPU a login (as the store's file
// grows) and its live heap (after a full collection) before them, right
// after them, and once what the node keeps of a login in memory has
// expired: the SMS's delivery status, kept
// smpp.DefaultTrackFor (the benchmark waits that long, and the minute the
// SMPP client takes to notice). What a login leaves for later (its code,
// tokens and family, the SMS challenge and send log) is in the state
// store, not the heap. The simulated phone deletes each SMS once read: its
// inboxes are the handset's memory, not the node's.
//
//	go test -run '^$' -bench LoginHeap -benchtime 100000x -timeout 40m ./dev/
//
// With MCFED_BENCH_HEAP_PROFILES=DIR it writes the heap's profile at each
// of the three points there (heap-before.pb, heap-after-logins.pb,
// heap-after-expiry.pb; `go tool pprof -base` compares two); with
// -memprofilerate 512 they see small records.
func BenchmarkLoginHeap(b *testing.B) {
	if b.N == 1 {
		// testing's probe run before the counted one: this benchmark is
		// run with -benchtime Nx, and waits for expiry only then.
		return
	}
	ctx := context.Background()
	lb, sps := startLoginBench(b, Options{}, "ES256")
	if err := lb.loginsReadAndDeleted(ctx, sps, 2000); err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	heapProfile(b, "heap-before.pb")
	b.ResetTimer()
	cpu0 := processCPU(b)
	if err := lb.loginsReadAndDeleted(ctx, sps, b.N); err != nil {
		b.Fatal(err)
	}
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/login")
	lastSent := time.Now()
	afterLogins := liveHeap()
	heapProfile(b, "heap-after-logins.pb")
	time.Sleep(time.Until(lastSent.Add(smpp.DefaultTrackFor + time.Minute)))
	after := liveHeap()
	heapProfile(b, "heap-after-expiry.pb")
	b.ReportMetric(float64(before)/(1<<20), "heap-before-MiB")
	b.ReportMetric(float64(afterLogins)/(1<<20), "heap-after-logins-MiB")
	b.ReportMetric(float64(after)/(1<<20), "heap-after-expiry-MiB")
	b.ReportMetric(100*(float64(after)-float64(before))/float64(before), "heap-growth-%")
}

// liveHeap is the heap's live bytes after two full collections (the
// second frees what the first's finalizers released).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapProfile writes the heap's profile to name in
// $MCFED_BENCH_HEAP_PROFILES, when it is set.
func heapProfile(b *testing.B, name string) {
	dir := os.Getenv("MCFED_BENCH_HEAP_PROFILES")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err == nil {
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		b.Fatalf("heap profile: %v", err)
	}
}
