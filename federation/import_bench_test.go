package federation

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkImportPorted3Nodes streams a ported-number CSV file of
// MCFED_BENCH_IMPORT rows (numbers drawn uniformly from India's 4e9 mobile
// numbers, six operators) into a three-node cluster on loopback, through
// a follower's admin API, and reports rows per second end to end: upload,
// validation, sorting, Raft commit on a quorum (fsync on), and apply.
//
//	MCFED_BENCH_IMPORT=10000000 go test -run '^$' -bench ImportPorted -benchtime 1x -timeout 30m ./federation/
func BenchmarkImportPorted3Nodes(b *testing.B) {
	rows := 100000
	if v, err := strconv.Atoi(os.Getenv("MCFED_BENCH_IMPORT")); err == nil && v > 0 {
		rows = v
	}
	f := startFed(b, 3)
	ops := []string{"op0", "op1", "op2", "op3", "op4", "op5"}
	for i, id := range ops {
		o := demoOperator(id, fmt.Sprintf("404_%02d", 10+i))
		o.Country, o.Currency = "IN", "INR"
		f.do(0, "PUT", "/v1/operators/"+id, o, nil)
	}
	var ranges bytes.Buffer
	for d := 6; d <= 9; d++ {
		fmt.Fprintf(&ranges, "+91%d,%s\n", d, ops[d-6])
	}
	f.do(0, "POST", "/v1/ranges/import", bytes.NewReader(ranges.Bytes()), nil)

	fi := f.follower()
	var elapsed time.Duration
	var res importResult
	var size int
	b.ResetTimer()
	for i := range b.N {
		// Fresh numbers each round: a file already imported writes nothing.
		b.StopTimer()
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		var csv bytes.Buffer
		csv.WriteString("msisdn,operator\n")
		for range rows {
			n := 916000000000 + rng.Uint64N(4000000000)
			fmt.Fprintf(&csv, "+%d,%s\n", n, ops[n%6])
		}
		size = csv.Len()
		b.StartTimer()
		t0 := time.Now()
		if err := f.admin(fi).Do(context.Background(), "POST", "/v1/ported/import", &csv, &res); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(res.Rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(size)/(1<<20), "MiB-file")
	for _, n := range f.nodes {
		f.waitFor("every node to apply the import", func() bool {
			return n.Raft().Registry().PortedCount() == f.nodes[fi].Raft().Registry().PortedCount()
		})
	}
	if got := f.nodes[0].Raft().Registry().PortedCount(); got < res.Changed {
		b.Fatalf("node 0 holds %d ported numbers after importing %d", got, res.Changed)
	}
}
