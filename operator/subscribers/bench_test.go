package subscribers

import (
	"strings"
	"testing"
)

// BenchmarkBulkLoad loads 10,000 CSV rows into a fresh store per iteration.
func BenchmarkBulkLoad(b *testing.B) {
	const rows = 10_000
	data := csvFile(rows)
	for b.Loop() {
		b.StopTimer()
		s, _ := openStore(b)
		b.StartTimer()
		if _, err := s.BulkLoad(strings.NewReader(data), FormatCSV); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkStoreGet reads random subscribers of a 10,000-subscriber store.
func BenchmarkStoreGet(b *testing.B) {
	s, _ := openStore(b)
	if _, err := s.BulkLoad(strings.NewReader(csvFile(10_000)), FormatCSV); err != nil {
		b.Fatal(err)
	}
	base := mustMSISDN(b, "+447400100000")
	i := 0
	for b.Loop() {
		if _, err := s.Get(base + MSISDN(i*7919%10_000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
