//go:build unix

package dev

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smpp"
)

// BenchmarkLoginHeap (issue 15, item 4) runs b.N whole logins on the UK
// operator's node, as BenchmarkLogin does, after 2,000 to warm its caches
// and pools, and reports the process's live heap (after a full
// collection) before them, right after them, and once what the node keeps
// of a login in memory has expired: the SMS's delivery status, kept
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
	ctx := context.Background()
	lb, sps := startLoginBench(b, Options{}, "ES256")
	if err := lb.loginsReadAndDeleted(ctx, sps, 2000); err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	heapProfile(b, "heap-before.pb")
	b.ResetTimer()
	if err := lb.loginsReadAndDeleted(ctx, sps, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
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

// loginsReadAndDeleted runs n logins through sps, 16 at a time, each SMS
// deleted from the simulated phone once its login read it.
func (lb *loginBench) loginsReadAndDeleted(ctx context.Context, sps []client.DevSPInfo, n int) error {
	subs, err := lb.provision(ctx, (n+smsLimit-1)/smsLimit+16)
	if err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				s := <-subs
				err := lb.login(ctx, sps[w%len(sps)], s)
				msisdn, _ := handset.NormalizeMSISDN(s.msisdn)
				for id := range s.seen {
					lb.d.phone.handset.Delete(msisdn, id)
				}
				if err != nil {
					errs <- fmt.Errorf("login of %s: %w", s.msisdn, err)
					return
				}
				if len(s.seen) < smsLimit {
					subs <- s
				}
			}
		}()
	}
	var failed error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if failed == nil && len(errs) > 0 {
		failed = <-errs
	}
	return failed
}
