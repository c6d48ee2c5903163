package subscribers

import (
	"context"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/postgres"
)

// BenchmarkBulkLoad loads 10,000 CSV rows into a fresh store per iteration.
func BenchmarkBulkLoad(b *testing.B) {
	benchBulkLoad(b, func(b *testing.B) *Store { s, _ := openStore(b); return s })
}

// BenchmarkBulkLoadPostgres is BenchmarkBulkLoad on a PostgreSQL store
// (pgxpool's default connections), a fresh database per iteration.
func BenchmarkBulkLoadPostgres(b *testing.B) {
	benchBulkLoad(b, func(b *testing.B) *Store {
		st, err := postgres.Open(context.Background(), pgtest.Database(b), state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return New(st)
	})
}

func benchBulkLoad(b *testing.B, open func(*testing.B) *Store) {
	const rows = 10_000
	data := csvFile(rows)
	for b.Loop() {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		if _, err := s.BulkLoad(strings.NewReader(data), FormatCSV); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBulkUpdate loads 10,000 CSV rows that change every subscriber
// of a 10,000-subscriber store (each iteration another given name): the
// path of a daily CRM feed, each row read, compared and rewritten.
func BenchmarkBulkUpdate(b *testing.B) {
	const rows = 10_000
	s, _ := openStore(b)
	if _, err := s.BulkLoad(strings.NewReader(csvFile(rows)), FormatCSV); err != nil {
		b.Fatal(err)
	}
	files := [2]string{strings.ReplaceAll(csvFile(rows), ",Given", ",Other"), csvFile(rows)}
	i := 0
	for b.Loop() {
		res, err := s.BulkLoad(strings.NewReader(files[i%2]), FormatCSV)
		if err != nil || res.Updated != rows {
			b.Fatal(res, err)
		}
		i++
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
