// Package bulkcsv reads the CSV files operators upload (subscribers,
// ranges, ported numbers) with the two guards every such import needs:
// a line longer than a bound is refused as soon as it passes the bound, so
// a file without newlines never sits in memory whole (encoding/csv gathers
// a record whole before looking at it), and a leading UTF-8 byte order
// mark, which spreadsheet programs write, is dropped.
package bulkcsv

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
)

// LongLineError is a line longer than the bound; the reader stopped at it,
// so the rest of the line was never read.
type LongLineError struct{ Line, Limit int }

func (e *LongLineError) Error() string { return fmt.Sprintf("line longer than %d bytes", e.Limit) }

// NewReader is a csv.Reader over r without its byte order mark, whose
// reads fail with *LongLineError once a line passes limit bytes.
func NewReader(r io.Reader, limit int) *csv.Reader {
	return csv.NewReader(&lineBound{r: SkipBOM(r), limit: limit, line: 1})
}

// lineBound passes a reader through, failing once a line grows past limit.
type lineBound struct {
	r     io.Reader
	limit int
	line  int // lines started, 1-based
	cur   int // bytes of the current line so far
}

func (b *lineBound) Read(p []byte) (int, error) {
	if b.cur > b.limit {
		return 0, &LongLineError{Line: b.line, Limit: b.limit}
	}
	// Near the bound, read no further than one byte past it.
	if room := b.limit - b.cur + 1; len(p) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			b.line++
			b.cur = 0
		} else {
			b.cur++
		}
	}
	return n, err
}

// SkipBOM drops a leading UTF-8 byte order mark.
func SkipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if head, err := br.Peek(3); err == nil && string(head) == "\ufeff" {
		br.Discard(3)
	}
	return br
}
