package subscribers

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBulkLoadCSV feeds arbitrary files to the CSV import: it never panics,
// a file is either loaded whole (and loading it again changes nothing) or
// refused with the lines at fault, and nothing else goes wrong reading it.
func FuzzBulkLoadCSV(f *testing.F) {
	f.Add([]byte("msisdn,given_name\n+447400100001,Ann\n"))
	f.Add([]byte("\ufeff\"msisdn\",\"city\"\n\"+447400100002\",\"Lon\ndon\"\n"))
	f.Add([]byte("msisdn,status,sim_swap_at,email_verified\n+447400100003,suspended,2024-05-01,true\n+447400100003,,,\n"))
	f.Add([]byte("msisdn\n\"unterminated\n"))
	f.Add([]byte("msisdn,given_name\n+447400100004," + string(bytes.Repeat([]byte("x"), maxCSVRecord+10)) + "\n"))
	s, _ := openStore(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := s.BulkLoad(bytes.NewReader(data), FormatCSV)
		if err != nil {
			var be *BulkError
			if !errors.As(err, &be) || len(be.Rows) == 0 {
				t.Fatalf("not a refusal by line: %v", err)
			}
			for _, r := range be.Rows {
				if r.Line < 1 {
					t.Fatalf("a refusal without a line: %+v", r)
				}
			}
			return
		}
		if res.Rows != res.Created+res.Updated+res.Unchanged {
			t.Fatalf("counts do not add up: %+v", res)
		}
		again, err := s.BulkLoad(bytes.NewReader(data), FormatCSV)
		if err != nil || again.Unchanged != again.Rows || again.Rows != res.Rows {
			t.Fatalf("a second load changed something: %+v %v (first %+v)", again, err, res)
		}
	})
}
