package subscribers

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// endlessLine is a CSV file whose second line is n bytes of one field with
// no newline, produced as it is read (never held in memory), sampling the
// heap as it goes.
type endlessLine struct {
	head     string
	n, sent  int64
	reads    int
	peakHeap uint64
}

func (r *endlessLine) Read(p []byte) (int, error) {
	if r.head != "" {
		k := copy(p, r.head)
		r.head = r.head[k:]
		return k, nil
	}
	if r.sent >= r.n {
		return 0, io.EOF
	}
	if r.reads%64 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.peakHeap = max(r.peakHeap, ms.HeapAlloc)
	}
	r.reads++
	k := int64(len(p))
	if left := r.n - r.sent; k > left {
		k = left
	}
	for i := range p[:k] {
		p[i] = '7'
	}
	r.sent += k
	return int(k), nil
}

// TestLongRecordRefusedAtOnceWithBoundedMemory: a 200 MB line without a
// newline is refused as too long, naming its line, after reading little
// more than the bound, with the heap staying small.
func TestLongRecordRefusedAtOnceWithBoundedMemory(t *testing.T) {
	s, _ := openStore(t)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := &endlessLine{head: "msisdn,given_name\n+447400100001,Ann\n+447400100002,", n: 200 << 20}
	_, err := s.BulkLoad(r, FormatCSV)
	var be *BulkError
	if !errors.As(err, &be) || len(be.Rows) != 1 || be.Rows[0].Line != 3 || !strings.Contains(be.Rows[0].Detail, "longer than") {
		t.Fatalf("want line 3 refused as too long, got %v", err)
	}
	if r.sent > 4*maxCSVRecord {
		t.Fatalf("read %d bytes of the long line before refusing it (bound %d)", r.sent, maxCSVRecord)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak := max(r.peakHeap, after.HeapAlloc)
	if grew := int64(peak) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("the heap grew by %d MB during the import", grew>>20)
	}
}

// TestBOMAccepted: a CSV or NDJSON file that starts with a UTF-8 byte order
// mark (as spreadsheet exports do) loads, quoted header or not.
func TestBOMAccepted(t *testing.T) {
	s, _ := openStore(t)
	for i, data := range []string{
		"\ufeffmsisdn,given_name\n+447400100011,Ann\n",
		"\ufeff\"msisdn\",\"given_name\"\n\"+447400100012\",\"Bea\"\n",
	} {
		res, err := s.BulkLoad(strings.NewReader(data), FormatCSV)
		if err != nil || res.Created != 1 {
			t.Fatalf("CSV %d: %+v %v", i, res, err)
		}
	}
	res, err := s.BulkLoad(strings.NewReader("\ufeff{\"msisdn\":\"+447400100013\"}\n"), FormatNDJSON)
	if err != nil || res.Created != 1 {
		t.Fatalf("NDJSON: %+v %v", res, err)
	}
}
