package admin

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/bulkcsv"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// Bulk imports read a CSV file streamed in the request body, validate all of
// it against the local replica (read at the leader's index) before writing
// anything, and then commit only the rows that change the registry, in
// batches of many rows per log entry, answering once this node has applied
// them. Importing the same file twice, through any node, therefore writes
// nothing the second time.

const (
	portBatchRows  = 10000 // ~100 KB log entries
	rangeBatchRows = 1000  // memdb commits get slow past a few thousand changes
	importWorkers  = 4     // batches in flight: Raft groups them into one disk write
	maxRowErrors   = 20
)

// ImportResult is the answer to a successful import.
type ImportResult struct {
	Rows      int `json:"rows"`      // data rows in the file
	Changed   int `json:"changed"`   // rows that changed the registry
	Unchanged int `json:"unchanged"` // rows the registry already held
	Batches   int `json:"batches"`   // log entries written
}

// importProblem reports every bad line (up to maxRowErrors) at once, so a
// file is fixed in one pass.
func importProblem(errs []problem.RowError, more bool) error {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d: %s", e.Line, e.Detail)
	}
	if more {
		b.WriteString("; and more")
	}
	p := newProblem(422, "bad-rows", "nothing was imported: "+b.String())
	p.Problem.Line = errs[0].Line
	p.Problem.Errors = errs
	return p
}

// importReader streams the request body, refusing more than the import cap.
// Past the cap, reads fail with *http.MaxBytesError (a 413).
func (a *api) importReader(c *fiber.Ctx) io.Reader {
	// c.Body() would drain a streamed body into memory whole: only a body
	// fasthttp did not stream is read through it.
	r := c.Context().RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(c.Body())
	}
	return http.MaxBytesReader(nil, io.NopCloser(r), a.cfg.MaxImportBytes)
}

var errTooLarge = newProblem(413, "too-large", "the file is larger than the import limit")

// maxImportLine bounds a line of a range or ported-number file: two short
// fields. A longer one is refused at once, naming its line, before the
// rest of it is read.
const maxImportLine = 4 << 10

// csvRows calls row for every data record of a two-column CSV file (an
// optional header whose first field is header is skipped), with its line.
// It stops at the first malformed record, or when row returns false.
func csvRows(r io.Reader, header string, row func(line int, rec []string) bool) error {
	cr := bulkcsv.NewReader(r, maxImportLine)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return errTooLarge
			}
			if ll := (*bulkcsv.LongLineError)(nil); errors.As(err, &ll) {
				return importProblem([]problem.RowError{{Line: ll.Line, Detail: ll.Error()}}, false)
			}
			var ce *csv.ParseError
			if errors.As(err, &ce) {
				return importProblem([]problem.RowError{{Line: ce.Line, Detail: "malformed CSV: " + ce.Err.Error()}}, false)
			}
			return badRequest("reading the file: " + err.Error())
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if strings.EqualFold(strings.TrimSpace(rec[0]), header) {
				continue
			}
		}
		if !row(line, rec) {
			return nil
		}
	}
}

// rowErrors collects bad lines up to maxRowErrors.
type rowErrors struct {
	errs []problem.RowError
	more bool
}

func (e *rowErrors) add(line int, format string, args ...any) bool {
	if len(e.errs) == maxRowErrors {
		e.more = true
		return false
	}
	e.errs = append(e.errs, problem.RowError{Line: line, Detail: fmt.Sprintf(format, args...)})
	return true
}

// verdict is the outcome of reading a file: the reading error, else the
// bad lines, else an error for a file without rows.
func (e *rowErrors) verdict(readErr error, rows int) error {
	switch {
	case readErr != nil:
		return readErr
	case len(e.errs) > 0:
		return importProblem(e.errs, e.more)
	case rows == 0:
		return badRequest("the file holds no rows")
	}
	return nil
}

// portKey packs a number and its place in the import's operator list into
// one sortable word: E.164 numbers are below 2^50, leaving 14 bits.
const portOpBits = 14

// importPorted imports "msisdn,operator" rows; an empty operator un-ports
// the number. Rows take the fast validation path (the same verdicts as
// phonenumbers, at a fraction of the cost), must lie in a known range, and
// may not give one number two operators.
func (a *api) importPorted(c *fiber.Ctx) error {
	reg, err := a.diffBase(c)
	if err != nil {
		return err
	}
	v := e164.FastValidator()
	ops := []string{""} // place 0 un-ports
	opIndex := map[string]uint64{"": 0}
	var rows []uint64
	var bad rowErrors
	err = csvRows(a.importReader(c), "msisdn", func(line int, rec []string) bool {
		if len(rec) != 2 {
			return bad.add(line, "want 2 fields (msisdn,operator), got %d", len(rec))
		}
		num, err := v.Check([]byte(rec[0]))
		if err != nil {
			return bad.add(line, "%v", err)
		}
		if !reg.InRange(num) {
			return bad.add(line, "%s is in no operator's range", e164.Format(num))
		}
		op, ok := opIndex[rec[1]]
		if !ok {
			if reg.Operator(rec[1]) == nil {
				return bad.add(line, "operator %q does not exist", rec[1])
			}
			if len(ops) == 1<<portOpBits {
				return bad.add(line, "too many operators in one file")
			}
			op = uint64(len(ops))
			id := strings.Clone(rec[1]) // the csv reader reuses its record
			ops = append(ops, id)
			opIndex[id] = op
		}
		rows = append(rows, num<<portOpBits|op)
		return true
	})
	if err := bad.verdict(err, len(rows)); err != nil {
		return err
	}
	total := len(rows)
	slices.Sort(rows)
	// One number, two operators: refuse; the same row twice: keep one. Rows
	// the registry already holds are dropped here, so a re-import writes
	// nothing.
	keep := rows[:0]
	for i, r := range rows {
		num, op := r>>portOpBits, r&(1<<portOpBits-1)
		if i > 0 && rows[i-1]>>portOpBits == num {
			if rows[i-1] != r {
				return importProblem([]problem.RowError{{Detail: e164.Format(num) + " is given two different operators"}}, false)
			}
			continue
		}
		cur := reg.Ported(num)
		if (op == 0 && cur == nil) || (op != 0 && cur != nil && cur.ID == ops[op]) {
			continue
		}
		keep = append(keep, r)
	}
	changed := len(keep)
	batches := (changed + portBatchRows - 1) / portBatchRows
	applied, err := a.applyBatches(c.UserContext(), presented(c), batches, func(b int) ([]byte, int, error) {
		part := keep[b*portBatchRows : min((b+1)*portBatchRows, changed)]
		ports := make([]registry.Port, len(part))
		for i, r := range part {
			ports[i] = registry.Port{Number: r >> portOpBits, Operator: ops[r&(1<<portOpBits-1)]}
		}
		cmd, err := registry.EncodePorts(ports)
		return cmd, len(part), err
	})
	if err != nil {
		return partialImport(err, applied)
	}
	return c.JSON(ImportResult{Rows: total, Changed: changed, Unchanged: total - changed, Batches: batches})
}

// importRanges imports "prefix,operator" rows.
func (a *api) importRanges(c *fiber.Ctx) error {
	reg, err := a.diffBase(c)
	if err != nil {
		return err
	}
	var rows []registry.Range
	lineOf := map[string]int{}
	var bad rowErrors
	err = csvRows(a.importReader(c), "prefix", func(line int, rec []string) bool {
		if len(rec) != 2 {
			return bad.add(line, "want 2 fields (prefix,operator), got %d", len(rec))
		}
		v, _, err := e164.ParsePrefix(rec[0])
		if err != nil {
			return bad.add(line, "%v", err)
		}
		prefix := e164.Format(v)
		if reg.Operator(rec[1]) == nil {
			return bad.add(line, "operator %q does not exist", rec[1])
		}
		if prev, dup := lineOf[prefix]; dup {
			return bad.add(line, "%s is already on line %d", prefix, prev)
		}
		lineOf[prefix] = line
		if cur := reg.Range(prefix); cur != nil {
			if cur.Operator != rec[1] {
				return bad.add(line, "%s already belongs to operator %s", prefix, cur.Operator)
			}
			rows = append(rows, registry.Range{Prefix: prefix}) // unchanged: Operator left empty
			return true
		}
		rows = append(rows, registry.Range{Prefix: prefix, Operator: strings.Clone(rec[1])})
		return true
	})
	if err := bad.verdict(err, len(rows)); err != nil {
		return err
	}
	total := len(rows)
	keep := slices.DeleteFunc(rows, func(r registry.Range) bool { return r.Operator == "" })
	changed := len(keep)
	batches := (changed + rangeBatchRows - 1) / rangeBatchRows
	applied, err := a.applyBatches(c.UserContext(), presented(c), batches, func(b int) ([]byte, int, error) {
		part := keep[b*rangeBatchRows : min((b+1)*rangeBatchRows, changed)]
		cmd, err := registry.Encode(registry.CmdPutRanges, registry.RangeBatch{Ranges: part})
		return cmd, len(part), err
	})
	if err != nil {
		return partialImport(err, applied)
	}
	return c.JSON(ImportResult{Rows: total, Changed: changed, Unchanged: total - changed, Batches: batches})
}

// diffBase is the replica an import is validated and diffed against, read
// at the leader's index: a lagging replica would judge a row sent right
// after another node's write "unchanged", and drop it.
func (a *api) diffBase(c *fiber.Ctx) (*registry.Registry, error) {
	if err := a.c.ReadIndex(c.UserContext()); err != nil {
		return nil, err
	}
	return a.c.Registry(), nil
}

// applyBatches commits batches built by build, several in flight at once
// (their rows are disjoint, so their order does not matter), and returns
// how many rows were committed. It stops at the first failure.
func (a *api) applyBatches(ctx context.Context, p raft.Presented, batches int, build func(i int) ([]byte, int, error)) (int, error) {
	if err := a.noBulkProposals(p); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, applied atomic.Int64
		wg            sync.WaitGroup
		once          sync.Once
		first         error
	)
	for range min(importWorkers, batches) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= batches || ctx.Err() != nil {
					return
				}
				cmd, rows, err := build(i)
				if err == nil {
					_, err = a.c.Apply(ctx, p, cmd)
				}
				if err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				applied.Add(int64(rows))
			}
		}()
	}
	wg.Wait()
	return int(applied.Load()), first
}

// partialImport reports an import that failed after some batches were
// committed; the file can be sent again, as rows already applied are skipped.
func partialImport(err error, applied int) error {
	p := problemFor(err)
	p.Detail = fmt.Sprintf("the import stopped after %d rows were committed (sending the file again completes it): %s", applied, p.Detail)
	p.Applied = &applied
	return &problem.Error{Problem: p}
}
