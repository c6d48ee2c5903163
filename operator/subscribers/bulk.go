package subscribers

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcfed/mcfed/internal/bulkcsv"
	"github.com/mcfed/mcfed/internal/e164"
)

// Format is the format of a bulk file.
type Format int

// Bulk file formats.
const (
	// FormatCSV is comma-separated values whose first line names the
	// columns (see csvColumns); msisdn is required, every other column
	// optional and in any order.
	FormatCSV Format = iota
	// FormatNDJSON is one JSON subscriber per line, as the API takes it.
	FormatNDJSON
)

// Bulk loading limits. Every row is validated before anything is written,
// which means holding the parsed file in memory: MaxBulkRows bounds that
// (about 1 KB a row).
const (
	MaxBulkRows     = 1_000_000
	bulkBatch       = 2000 // rows per write transaction
	maxRowErrors    = 100  // bad rows reported before giving up
	maxNDJSONLine   = 1 << 20
	maxCSVFieldsRow = 64
	maxCSVRecord    = 64 << 10 // bytes of one CSV line
)

// BulkResult counts what a load did.
type BulkResult struct {
	Rows      int `json:"rows"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}

// RowError is one bad row of a bulk file.
type RowError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// BulkError is a file with bad rows; nothing of it was written.
type BulkError struct {
	Rows []RowError // in line order, at most maxRowErrors
	More bool       // there were more bad rows than Rows lists
}

func (e *BulkError) Error() string {
	var b strings.Builder
	b.WriteString("nothing was loaded: ")
	for i, r := range e.Rows {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d: ", r.Line)
		if r.Field != "" {
			b.WriteString(r.Field + ": ")
		}
		b.WriteString(r.Detail)
	}
	if e.More {
		b.WriteString("; and more")
	}
	return b.String()
}

// bulkRow is one validated row: a subscriber and which of the optional
// parts the row sets (a file that does not mention status or enrolments
// leaves them as they are, so that a CRM attribute feed cannot wipe the
// FIDO credentials people enrolled).
type bulkRow struct {
	line      int
	sub       Subscriber
	hasStatus bool
	hasAuth   bool
}

type rowCollector struct {
	rows []bulkRow
	seen map[MSISDN]int // number -> line, to refuse a number twice
	errs BulkError
}

func (c *rowCollector) fail(line int, err error) {
	if len(c.errs.Rows) == maxRowErrors {
		c.errs.More = true
		return
	}
	re := RowError{Line: line, Detail: err.Error()}
	var fe *FieldError
	if errors.As(err, &fe) {
		re.Field, re.Detail = fe.Field, fe.Reason
	}
	c.errs.Rows = append(c.errs.Rows, re)
}

// add validates a row and keeps it; false stops reading (too many rows).
func (c *rowCollector) add(r bulkRow, numberChecked bool) bool {
	if err := r.sub.validate(numberChecked); err != nil {
		c.fail(r.line, err)
		return true
	}
	if first, dup := c.seen[r.sub.MSISDN]; dup {
		c.fail(r.line, invalid("msisdn", "%s is also on line %d", r.sub.MSISDN, first))
		return true
	}
	if len(c.rows) == MaxBulkRows {
		c.fail(r.line, fmt.Errorf("more than %d rows; split the file", MaxBulkRows))
		return false
	}
	c.seen[r.sub.MSISDN] = r.line
	c.rows = append(c.rows, r)
	return true
}

// BulkLoad reads a whole file, validates every row (CSV numbers with
// e164.FastValidator, JSON ones with e164.Parse) and only then
// writes, bulkBatch rows per transaction. A file with any bad row writes
// nothing and fails with a *BulkError naming the lines. A row for an
// existing subscriber replaces what the row sets; a row that would change
// nothing is not written, so loading the same file twice changes nothing
// (not even versions). Rows for deleted numbers create new subscribers.
//
// Errors reading r (a size cap, a dropped connection) are returned wrapped,
// before anything is written. If the disk fails between batches, earlier
// batches stay written; loading the file again completes the load.
func (s *Store) BulkLoad(r io.Reader, format Format) (BulkResult, error) {
	c := &rowCollector{seen: make(map[MSISDN]int)}
	var err error
	switch format {
	case FormatCSV:
		err = readCSV(r, c)
	case FormatNDJSON:
		err = readNDJSON(r, c)
	default:
		err = fmt.Errorf("unknown bulk format %d", format)
	}
	if err != nil {
		return BulkResult{}, err
	}
	if len(c.errs.Rows) > 0 {
		return BulkResult{}, &c.errs
	}
	res := BulkResult{Rows: len(c.rows)}
	for start := 0; start < len(c.rows); start += bulkBatch {
		batch := c.rows[start:min(start+bulkBatch, len(c.rows))]
		var created, updated, unchanged int
		err := s.db.Update(func(tx *bolt.Tx) error {
			created, updated, unchanged = 0, 0, 0
			now := s.now()
			for i := range batch {
				switch changed, err := loadRow(tx, &batch[i], now); {
				case err != nil:
					return fmt.Errorf("line %d: %w", batch[i].line, err)
				case changed == rowCreated:
					created++
				case changed == rowUpdated:
					updated++
				default:
					unchanged++
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("bulk load stopped after %d of %d rows: %w", start, len(c.rows), err)
		}
		res.Created += created
		res.Updated += updated
		res.Unchanged += unchanged
	}
	return res, nil
}

type rowOutcome int

const (
	rowUnchanged rowOutcome = iota
	rowCreated
	rowUpdated
)

func loadRow(tx *bolt.Tx, r *bulkRow, now time.Time) (rowOutcome, error) {
	old, found, err := get(tx, r.sub.MSISDN)
	if err != nil {
		return 0, err
	}
	if !found || old.Status == StatusDeleted {
		sub := r.sub
		sub.Version, sub.CreatedAt = old.Version, now
		stamp(&sub, now)
		if err := put(tx, &sub); err != nil {
			return 0, err
		}
		return rowCreated, newSecret(tx, sub.MSISDN)
	}
	sub := old // fields are replaced, never mutated, so old stays intact
	if r.hasStatus {
		sub.Status = r.sub.Status
	}
	sub.Attributes = r.sub.Attributes
	sub.SIMSwapAt, sub.LastPortAt = r.sub.SIMSwapAt, r.sub.LastPortAt
	if r.hasAuth {
		sub.Authenticators = keepEnrolmentTimes(old.Authenticators, r.sub.Authenticators)
	}
	if same(&old, &sub) {
		return rowUnchanged, nil
	}
	stamp(&sub, now)
	return rowUpdated, put(tx, &sub)
}

// keepEnrolmentTimes gives enrolments that come without a creation time
// the time of the same enrolment (type and id) already stored, so that
// sending the same enrolments again is no change.
func keepEnrolmentTimes(old, cur []Enrolment) []Enrolment {
	for i := range cur {
		if !cur[i].CreatedAt.IsZero() {
			continue
		}
		for _, o := range old {
			if o.Type == cur[i].Type && o.ID == cur[i].ID {
				cur[i].CreatedAt = o.CreatedAt
				break
			}
		}
	}
	return cur
}

// csvSetter sets one column's value on a row.
type csvSetter func(r *bulkRow, v string) error

func text(f func(a *Attributes) *string) csvSetter {
	return func(r *bulkRow, v string) error { *f(&r.sub.Attributes) = v; return nil }
}

func addr(f func(a *Address) *string) csvSetter {
	return func(r *bulkRow, v string) error {
		if v == "" {
			return nil
		}
		if r.sub.Attributes.Address == nil {
			r.sub.Attributes.Address = &Address{}
		}
		*f(r.sub.Attributes.Address) = v
		return nil
	}
}

func csvTime(name string, f func(s *Subscriber) **time.Time) csvSetter {
	return func(r *bulkRow, v string) error {
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			// A bare date is what operators' exports usually hold.
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return invalid(name, "must be an RFC 3339 time or a date YYYY-MM-DD")
			}
		}
		*f(&r.sub) = &t
		return nil
	}
}

// csvColumns are the column names a CSV header may use; city and state are
// accepted for locality and region since that is what CRMs export.
var csvColumns = map[string]csvSetter{
	"status": func(r *bulkRow, v string) error {
		r.sub.Status, r.hasStatus = Status(v), v != ""
		return nil
	},
	"title":                  text(func(a *Attributes) *string { return &a.Title }),
	"given_name":             text(func(a *Attributes) *string { return &a.GivenName }),
	"middle_name":            text(func(a *Attributes) *string { return &a.MiddleName }),
	"family_name":            text(func(a *Attributes) *string { return &a.FamilyName }),
	"email":                  text(func(a *Attributes) *string { return &a.Email }),
	"phone_number_alternate": text(func(a *Attributes) *string { return &a.PhoneNumberAlternate }),
	"birthdate":              text(func(a *Attributes) *string { return &a.Birthdate }),
	"national_identifier":    text(func(a *Attributes) *string { return &a.NationalIdentifier }),
	"email_verified": func(r *bulkRow, v string) error {
		if v == "" {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return invalid("email_verified", "must be true or false")
		}
		r.sub.Attributes.EmailVerified = b
		return nil
	},
	"street_address": addr(func(a *Address) *string { return &a.StreetAddress }),
	"locality":       addr(func(a *Address) *string { return &a.Locality }),
	"city":           addr(func(a *Address) *string { return &a.Locality }),
	"region":         addr(func(a *Address) *string { return &a.Region }),
	"state":          addr(func(a *Address) *string { return &a.Region }),
	"postal_code":    addr(func(a *Address) *string { return &a.PostalCode }),
	"country":        addr(func(a *Address) *string { return &a.Country }),
	"sim_swap_at":    csvTime("sim_swap_at", func(s *Subscriber) **time.Time { return &s.SIMSwapAt }),
	"last_port_at":   csvTime("last_port_at", func(s *Subscriber) **time.Time { return &s.LastPortAt }),
}

func readCSV(r io.Reader, c *rowCollector) error {
	cr := bulkcsv.NewReader(r, maxCSVRecord)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		c.fail(1, errors.New("empty file: the first line must name the columns"))
		return nil
	}
	if err != nil {
		return csvError(err, c)
	}
	if len(header) > maxCSVFieldsRow {
		c.fail(1, fmt.Errorf("more than %d columns", maxCSVFieldsRow))
		return nil
	}
	msisdnCol := -1
	setters := make([]csvSetter, len(header))
	names := make([]string, len(header))
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		name = strings.TrimPrefix(name, "address.")
		names[i] = name
		if name == "msisdn" {
			msisdnCol = i
			continue
		}
		if setters[i] = csvColumns[name]; setters[i] == nil {
			c.fail(1, invalid(h, "unknown column"))
		}
	}
	if msisdnCol < 0 {
		c.fail(1, invalid("msisdn", "the header has no msisdn column"))
	}
	if len(c.errs.Rows) > 0 {
		return nil
	}
	validator := e164.FastValidator()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if err := csvError(err, c); err != nil {
				return err
			}
			if !errors.Is(err, csv.ErrFieldCount) {
				return nil // the rest of the file cannot be trusted
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		row := bulkRow{line: line}
		v, err := validator.Check([]byte(strings.TrimSpace(rec[msisdnCol])))
		if err != nil {
			c.fail(line, &FieldError{Field: "msisdn", Reason: err.Error(), err: err})
			continue
		}
		row.sub.MSISDN = MSISDN(v)
		bad := false
		for i, set := range setters {
			if set == nil {
				continue
			}
			if err := set(&row, rec[i]); err != nil {
				c.fail(line, err)
				bad = true
				break
			}
		}
		if !bad && !c.add(row, true) {
			return nil
		}
	}
}

// csvError records a CSV syntax error or a line over the bound against its
// line; other errors (from the reader itself) are returned.
func csvError(err error, c *rowCollector) error {
	if ll := (*bulkcsv.LongLineError)(nil); errors.As(err, &ll) {
		c.fail(ll.Line, ll)
		return nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		c.fail(pe.Line, pe.Err)
		return nil
	}
	return fmt.Errorf("reading CSV: %w", err)
}

func readNDJSON(r io.Reader, c *rowCollector) error {
	sc := bufio.NewScanner(bulkcsv.SkipBOM(r))
	sc.Buffer(make([]byte, 0, 64<<10), maxNDJSONLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		sub, err := decodeSubscriber(b)
		if err != nil {
			c.fail(line, err)
			continue
		}
		row := bulkRow{line: line, sub: sub, hasStatus: sub.Status != "", hasAuth: sub.Authenticators != nil}
		// Store-owned fields are not for files to set.
		row.sub.CreatedAt, row.sub.UpdatedAt, row.sub.Version = time.Time{}, time.Time{}, 0
		if !c.add(row, false) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			c.fail(line+1, fmt.Errorf("line longer than %d bytes", maxNDJSONLine))
			return nil
		}
		return fmt.Errorf("reading JSON lines: %w", err)
	}
	return nil
}
