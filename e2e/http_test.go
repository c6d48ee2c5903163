package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// httpClient is the tests' client for admin calls and single requests.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// noRedirect is a browser that stops at each redirect, as the SDKs' headless
// clients and the tests need to read Location.
var noRedirect = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sdkClient is a headless SDK's HTTP client for one login: it stops at
// each redirect and keeps cookies, as the Java SDK's does, so its re-poll
// of the authorize URL carries the login-binding cookie the first answer
// set.
func sdkClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// apiError is an answer other than 2xx.
type apiError struct {
	Method, URL string
	Status      int
	ContentType string
	Body        string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
}

// statusOf is the HTTP status of an apiError, or 0 for any other error.
func statusOf(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// call sends body as JSON (when not nil) with the bearer token (when not
// empty) and decodes a 2xx answer into out (when not nil).
func call(method, url, token string, body, out any) error {
	return callWith(httpClient, method, url, token, body, out)
}

// callWith is call through client c (a TLS federation's admin listeners
// need one that trusts the federation's CA).
func callWith(c *http.Client, method, url, token string, body, out any) error {
	var rd io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, ctype = bytes.NewReader(b), "application/json"
	}
	return send(c, method, url, token, ctype, rd, out)
}

// send sends body as ctype (when not empty) with the bearer token (when
// not empty) and decodes a 2xx answer into out (when not nil); any other
// answer is an *apiError.
func send(c *http.Client, method, url, token, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{Method: method, URL: url, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w in %s", method, url, err, b)
		}
	}
	return nil
}

func getJSON(url string, out any) error { return call("GET", url, "", nil, out) }

// pollEvery is the interval of bounded waits.
const pollEvery = 50 * time.Millisecond

// poll calls cond until it reports done or timeout passes; on timeout it
// returns cond's last error, or says it timed out.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := cond()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition not met")
			}
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(pollEvery)
	}
}

// freePorts returns n loopback ports that were free a moment ago. All n
// are held open together so that they differ; a node then binds them.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}
