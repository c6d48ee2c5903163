package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mcfed/mcfed/client"
)

// importKinds are the bulk files "mcfed admin import KIND FILE" sends, by
// the admin API's path.
var importKinds = []struct{ kind, path, what string }{
	{"ported", "/v1/ported/import", "ported numbers: CSV msisdn,operator (an empty operator un-ports)"},
	{"ranges", "/v1/ranges/import", "number ranges: CSV prefix,operator"},
	{"subscribers", "/v1/subscribers/import", "the node's operator's subscribers: CSV, header msisdn and the attributes"},
}

// stderrKey carries the command's standard error in its context: where an
// import's progress goes.
type stderrKey struct{}

func stderrOf(ctx context.Context) io.Writer {
	if w, ok := ctx.Value(stderrKey{}).(io.Writer); ok {
		return w
	}
	return io.Discard
}

// importFile sends a bulk file to path, streamed from disk (a file of 10M
// rows is never in memory: the HTTP client reads it as it sends it), with
// its length. Standard input ("-") is spooled to a temporary file first,
// for the length. Progress goes to standard error as the file is sent;
// the rows per second, from the start to the node's answer, at the end.
func importFile(fs *flag.FlagSet, path string) func(context.Context, *client.Admin, []string) (any, error) {
	every := fs.Duration("progress", 2*time.Second, "how often progress is printed while the file is sent (0: never; on a terminal the line is redrawn)")
	return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
		var f *os.File
		var err error
		if pos[0] == "-" {
			f, err = spool(os.Stdin)
		} else {
			f, err = os.Open(pos[0])
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		start := time.Now()
		p := &progress{r: f, size: st.Size(), w: stderrOf(ctx), start: start, tty: isTerminal(stderrOf(ctx))}
		stop := p.every(*every)
		answer, err := call(ctx, a, "POST", path, p)
		stop()
		if err != nil {
			return nil, err
		}
		took := time.Since(start)
		rows := p.rows() // the lines sent, less a header, unless the answer counts them
		if m, ok := answer.(map[string]any); ok {
			if n, err := m["rows"].(json.Number).Int64(); err == nil {
				rows = n
			}
		}
		fmt.Fprintf(p.w, "imported %d rows in %s: %.0f rows/s\n", rows, took.Round(time.Millisecond), float64(rows)/took.Seconds())
		return answer, nil
	}
}

// progress counts what the HTTP client has read of a file, and prints it.
type progress struct {
	r     io.Reader
	size  int64
	w     io.Writer
	tty   bool
	start time.Time

	mu          sync.Mutex
	sent, lines int64
	done        bool // the whole file was read
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	p.sent += int64(n)
	p.lines += int64(bytes.Count(b[:n], []byte{'\n'}))
	p.done = p.done || errors.Is(err, io.EOF) || p.size > 0 && p.sent >= p.size
	p.mu.Unlock()
	return n, err
}

// Size is the file's length, which client.Admin sends as Content-Length:
// a node refuses a file over its limit before reading it.
func (p *progress) Size() int64 { return p.size }

func (p *progress) rows() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}

// line is the progress as one line.
func (p *progress) line() string {
	p.mu.Lock()
	sent, lines, done := p.sent, p.lines, p.done
	p.mu.Unlock()
	el := time.Since(p.start)
	pct := 100.0
	if p.size > 0 {
		pct = 100 * float64(sent) / float64(p.size)
	}
	s := fmt.Sprintf("sent %5.1f%%  %s of %s  %d lines  %.0f lines/s", pct, mb(sent), mb(p.size), lines, float64(lines)/el.Seconds())
	if done {
		s += "  (the node checks every row, then commits them)"
	}
	return s
}

// every prints the progress every d until the returned stop is called,
// which prints it a last time (on a terminal, ending the redrawn line).
func (p *progress) every(d time.Duration) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	print := func() {
		if p.tty {
			fmt.Fprintf(p.w, "\r\x1b[K%s", p.line())
		} else {
			fmt.Fprintln(p.w, p.line())
		}
	}
	go func() {
		defer close(exited)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				print()
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		print()
		if p.tty {
			fmt.Fprintln(p.w)
		}
	}
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// isTerminal says whether w is a character device (a person's terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
