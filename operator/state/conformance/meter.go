package conformance

import (
	"testing"
	"time"
)

// startMeter starts counting the CPU a benchmark's calls use: this
// process's (processCPU) and serverCPU's, when not nil. The function it
// returns reports them per op, as cpu-ns/op (both) and db-cpu-ns/op
// (the server's alone); it reports nothing where processCPU cannot
// measure.
func startMeter(b *testing.B, serverCPU func() (time.Duration, error)) func() {
	server := func() time.Duration {
		if serverCPU == nil {
			return 0
		}
		d, err := serverCPU()
		if err != nil {
			b.Fatalf("the server's CPU: %v", err)
		}
		return d
	}
	own0, ok := processCPU()
	if !ok {
		return func() {}
	}
	srv0 := server()
	return func() {
		own, _ := processCPU()
		srv := server() - srv0
		n := float64(b.N)
		b.ReportMetric(float64((own-own0+srv).Nanoseconds())/n, "cpu-ns/op")
		if serverCPU != nil {
			b.ReportMetric(float64(srv.Nanoseconds())/n, "db-cpu-ns/op")
		}
	}
}
