package subscribers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/internal/bulkcsv"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/state"
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
	maxRowErrors    = 100 // bad rows reported before giving up
	maxNDJSONLine   = 1 << 20
	maxCSVFieldsRow = 64
	maxCSVRecord    = 64 << 10 // bytes of one CSV line
)

// bulkWriters is how many rows BulkLoad writes at once: twice the embedded
// store's largest commit (256 writes), so that while one group commits the
// next one fills. Fewer leave commits part empty: on the 10,000-row
// benchmark, 64 writers made 311 commits (of about 5 ms each here), 512
// made 44 to 68.
const bulkWriters = 512

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
// e164.FastValidator, JSON ones with e164.Parse) and only then writes, row
// by row, each row one atomic step of the state store (as Create or Update
// would be), bulkWriters rows at a time. A file with any bad row writes
// nothing and fails with a *BulkError naming the lines. A row for an
// existing subscriber replaces what the row sets; a row that would change
// nothing is not written, so loading the same file twice changes nothing
// (not even versions). Rows for deleted numbers create new subscribers.
//
// Errors reading r (a size cap, a dropped connection) are returned wrapped,
// before anything is written. If the store fails during the writes, the
// rows written stay written; loading the file again completes the load.
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
	return s.writeRows(c.rows)
}

// writeRows writes validated rows, bulkWriters at a time: the embedded
// state store puts the writes waiting together into one commit, synced
// once for all of them (up to 256), and PostgreSQL runs them on its
// several connections, so a load does not cost a synced commit per row.
// The first failure stops the writers.
func (s *Store) writeRows(rows []bulkRow) (BulkResult, error) {
	var (
		next     atomic.Int64 // the next row to write
		counts   [3]atomic.Int64
		failMu   sync.Mutex
		failLine int
		failErr  error
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	ctx := context.Background()
	for range min(bulkWriters, len(rows)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(rows) {
					return
				}
				outcome, err := s.loadRow(ctx, &rows[i])
				if err != nil {
					failMu.Lock()
					if failErr == nil || rows[i].line < failLine {
						failLine, failErr = rows[i].line, err
					}
					failMu.Unlock()
					failed.Store(true)
					return
				}
				counts[outcome].Add(1)
			}
		})
	}
	wg.Wait()
	res := BulkResult{
		Rows:      len(rows),
		Created:   int(counts[rowCreated].Load()),
		Updated:   int(counts[rowUpdated].Load()),
		Unchanged: int(counts[rowUnchanged].Load()),
	}
	if failErr != nil {
		done := res.Created + res.Updated + res.Unchanged
		return res, fmt.Errorf("bulk load stopped after %d of %d rows: line %d: %w", done, len(rows), failLine, failErr)
	}
	return res, nil
}

type rowOutcome int

const (
	rowUnchanged rowOutcome = iota
	rowCreated
	rowUpdated
)

// loadRow writes one row. It reads first: a row that changes nothing (a
// file loaded again) costs no write. The write itself decides again from
// what it reads, as one Update, so a change made meanwhile by the API or
// another node is neither lost nor overwritten with a stale version.
func (s *Store) loadRow(ctx context.Context, r *bulkRow) (rowOutcome, error) {
	k := key(r.sub.MSISDN)
	now := s.now()
	// What the row makes of the record read: reused by the Update below
	// when the record is still the one read, so that the decoding and
	// encoding are done here, in parallel, rather than in the store's
	// writer, which runs its callers' steps one after the other.
	var read, made state.Record
	var madeOutcome rowOutcome
	switch rec, err := s.st.Get(ctx, kindRecord, k); {
	case err == nil:
		read = rec
		if madeOutcome, made, err = s.applyRow(r, rec, true, now); err != nil || madeOutcome == rowUnchanged {
			return madeOutcome, err
		}
	case errors.Is(err, state.ErrNotFound):
		// A new number, the most of a first load: a Create.
		_, rec, err := s.applyRow(r, state.Record{}, false, now)
		if err != nil {
			return 0, err
		}
		switch err := s.st.Create(ctx, kindRecord, k, rec.Value, rec.Expires); {
		case err == nil:
			return rowCreated, nil
		case !errors.Is(err, state.ErrExists):
			return 0, storeErr("loading", r.sub.MSISDN, err)
		}
		// Created meanwhile (the API, another node): an Update from it.
	default:
		return 0, storeErr("reading", r.sub.MSISDN, err)
	}
	var outcome rowOutcome
	stored, err := s.st.Update(ctx, kindRecord, k, func(old state.Record, found bool) (state.Record, error) {
		if found && read.Value != nil && bytes.Equal(old.Value, read.Value) {
			outcome = madeOutcome
			return made, nil
		}
		var rec state.Record
		var err error
		outcome, rec, err = s.applyRow(r, old, found, now)
		if err == nil && outcome == rowUnchanged {
			err = errUnchanged
		}
		return rec, err
	})
	if errors.Is(err, errUnchanged) {
		return rowUnchanged, nil
	}
	if err != nil {
		return 0, storeErr("loading", r.sub.MSISDN, err)
	}
	if outcome == rowCreated {
		// Over a tombstone: a recycled number, as in Create.
		_, gen, err := decodeRecord(r.sub.MSISDN, stored.Value)
		if err == nil {
			err = s.dropOldSecrets(ctx, r.sub.MSISDN, gen)
		}
		if err != nil {
			return 0, fmt.Errorf("%s was created, but: %w", r.sub.MSISDN, err)
		}
	}
	return outcome, nil
}

// applyRow is what row r makes of the stored record old: a new subscriber
// (none, or a tombstone), an update of what the row sets, or no change;
// with the record to store, stamped at now.
func (s *Store) applyRow(r *bulkRow, old state.Record, found bool, now time.Time) (rowOutcome, state.Record, error) {
	var prev Subscriber
	var gen uint64
	if found {
		var err error
		if prev, gen, err = decodeRecord(r.sub.MSISDN, old.Value); err != nil {
			return 0, state.Record{}, err
		}
	}
	if !found || prev.Status == StatusDeleted {
		sub := r.sub
		// stamp sets enrolment times: on a copy, since this may run again.
		sub.Authenticators = slices.Clone(r.sub.Authenticators)
		sub.Version, sub.CreatedAt = prev.Version, now
		stamp(&sub, now)
		rec, err := encodeRecord(&sub, sub.Version)
		return rowCreated, rec, err
	}
	sub := prev // fields are replaced, never mutated, so prev stays intact
	if r.hasStatus {
		sub.Status = r.sub.Status
	}
	sub.Attributes = r.sub.Attributes
	sub.SIMSwapAt, sub.LastPortAt = r.sub.SIMSwapAt, r.sub.LastPortAt
	if r.hasAuth {
		sub.Authenticators = keepEnrolmentTimes(prev.Authenticators, slices.Clone(r.sub.Authenticators))
	}
	if same(&prev, &sub) {
		return rowUnchanged, state.Record{}, nil
	}
	stamp(&sub, now)
	rec, err := encodeRecord(&sub, gen)
	return rowUpdated, rec, err
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
