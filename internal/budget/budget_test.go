package budget

import (
	"testing"
	"time"
)

// TestFailureBudgetSpendsAndRefills: a key fails Burst times, is then
// spent for as long as one failure takes to come back, and refills on
// the clock it was given; other keys are untouched.
func TestFailureBudgetSpendsAndRefills(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := New(Throttle{Rate: 0.2, Burst: 3}, DefaultAddressFailures, func() time.Time { return now })
	if !b.Empty() {
		t.Fatal("a new budget is not empty")
	}
	for i := range 3 {
		if spent, _ := b.Spent("a"); spent {
			t.Fatalf("spent after %d failures", i)
		}
		if last := b.Spend("a"); last != (i == 2) {
			t.Fatalf("failure %d: last %v", i+1, last)
		}
	}
	spent, wait := b.Spent("a")
	if !spent || wait != 5*time.Second || RetryAfter(wait) != 5 {
		t.Fatalf("after the burst: %v %v", spent, wait)
	}
	if spent, _ := b.Spent("b"); spent {
		t.Fatal("another key is spent")
	}
	now = now.Add(4 * time.Second)
	if _, wait := b.Spent("a"); RetryAfter(wait) != 1 {
		t.Fatalf("a second before the refill: wait %v", wait)
	}
	now = now.Add(time.Second)
	if spent, _ := b.Spent("a"); spent {
		t.Fatal("still spent once a failure came back")
	}
	if b.Spend("") || b.Empty() {
		t.Fatal("the empty key is budgeted")
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2} {
		if got := RetryAfter(d); got != want {
			t.Errorf("%v: %d, want %d", d, got, want)
		}
	}
}
