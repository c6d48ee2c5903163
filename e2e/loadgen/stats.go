package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// quantile returns the q-quantile (0 < q < 1) of sorted latencies, 0 when
// there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// sortedCopy sorts a copy, leaving the caller's slice as it was.
func sortedCopy(lat []time.Duration) []time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func printLatencyHeader(w io.Writer) {
	fmt.Fprintf(w, "%-10s %10s %10s %10s %8s\n", "phase", "p50", "p90", "p99", "count")
}

// printLatency prints a row of percentiles of lat.
func printLatency(w io.Writer, name string, lat []time.Duration) {
	s := sortedCopy(lat)
	fmt.Fprintf(w, "%-10s %10s %10s %10s %8d\n", name, round(quantile(s, 0.5)), round(quantile(s, 0.9)), round(quantile(s, 0.99)), len(s))
}

// printErrors prints failure kinds by count, most frequent first.
func printErrors(w io.Writer, errs map[string]int) {
	if len(errs) == 0 {
		fmt.Fprintln(w, "errors     none")
		return
	}
	kinds := make([]string, 0, len(errs))
	for k := range errs {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return errs[kinds[i]] > errs[kinds[j]] })
	fmt.Fprintln(w, "errors")
	for _, k := range kinds {
		fmt.Fprintf(w, "  %6d  %s\n", errs[k], k)
	}
}
