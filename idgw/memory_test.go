package idgw

import (
	"runtime"
	"testing"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestLoginsLeaveNoHeapBehind (issue 15): what a login leaves for later
// (its code, tokens, family, the spent refresh token) is in the store, not
// the process: three hundred logins, each redeemed and refreshed, leave
// the live heap where fifty did. Before the store, refresh tokens held
// memory for their 30 days, and a node grew by some 8 KB a login.
func TestLoginsLeaveNoHeapBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("three hundred logins")
	}
	f := newTokenFixture(t)
	run := func(n int) {
		for range n {
			_, refresh := f.tokens("mem")
			if status, _, _, _ := f.refreshWith(refresh); status != 200 {
				t.Fatalf("refresh: %d", status)
			}
		}
	}
	run(50) // warm: caches, pools, the store's first pages
	before := heapInUse()
	run(300)
	after := heapInUse()
	// 300 logins at the old 8 KB each would be 2.4 MB; allow 1 MB of noise.
	if after > before+1<<20 {
		t.Fatalf("the live heap grew from %d to %d bytes over 300 logins", before, after)
	}
	t.Logf("live heap %d bytes after 50 logins, %d after 350", before, after)
}
