package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Admin calls a node's admin API, as the demo federation and operators'
// scripts do.
type Admin struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// Do sends body (JSON unless it is an io.Reader, which goes as CSV) and
// decodes a 2xx answer into out (when not nil). Any other answer comes back
// as an *APIError holding the problem.
func (a *Admin) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "text/csv"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	if s, ok := body.(interface{ Size() int64 }); ok {
		// A reader that knows its length (a file under a progress
		// counter) sends it, as a file does.
		req.ContentLength = s.Size()
	} else if f, ok := body.(*os.File); ok {
		// A file's length is known: sent with it, not chunked, so that the
		// node can refuse a file over its limit before reading it.
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				req.ContentLength = st.Size() - off
			}
		}
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	client := a.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
		_ = json.Unmarshal(data, &e.Problem)
		return e
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// APIError is a non-2xx answer of the admin API.
type APIError struct {
	Status      int
	ContentType string
	Problem     Problem
}

// Error is one line: the status with its text, and the problem's detail
// (its title when it has none).
func (e *APIError) Error() string {
	detail := e.Problem.Detail
	if detail == "" {
		detail = e.Problem.Title
	}
	if detail == "" {
		detail = "no problem details in the answer"
	}
	return fmt.Sprintf("admin API answered %d %s: %s", e.Status, http.StatusText(e.Status), detail)
}

// Problem is the admin API's error body, RFC 9457 problem details, as a
// client reads it.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Line is the line of an imported file that the problem is about.
	Line int `json:"line,omitempty"`
	// Errors lists the bad lines of an imported file.
	Errors []RowError `json:"errors,omitempty"`
	// Applied is how many rows of an import were committed before it failed.
	Applied *int `json:"applied,omitempty"`
}

// RowError is one bad line of an imported file.
type RowError struct {
	Line   int    `json:"line"`
	Detail string `json:"detail"`
}

// Retry calls f until it succeeds, the admin API refuses it with anything
// but a 503 (no leader yet: the first calls to a new cluster meet its first
// election), or 30 s pass; an unreachable node is tried again.
func Retry(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := f()
		var api *APIError
		if err == nil || errors.As(err, &api) && api.Status != http.StatusServiceUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
