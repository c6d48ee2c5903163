package netlookup

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/testca"
)

// network is an operator's lookup service on loopback: it knows one
// address (any port) and records what it was asked.
type network struct {
	mu     sync.Mutex
	asked  []map[string]any
	bearer []string
	// answer, when set, replaces the service's own answer.
	answer func(w http.ResponseWriter, r *http.Request)
}

func (n *network) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var q map[string]any
	_ = json.NewDecoder(r.Body).Decode(&q)
	n.mu.Lock()
	n.asked, n.bearer = append(n.asked, q), append(n.bearer, r.Header.Get("Authorization"))
	answer := n.answer
	n.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if answer != nil {
		answer(w, r)
		return
	}
	if q["address"] != "84.125.93.10" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"msisdn": "+447400123456", "imsi_known": true}`))
}

func (n *network) set(f func(w http.ResponseWriter, r *http.Request)) {
	n.mu.Lock()
	n.answer = f
	n.mu.Unlock()
}

var (
	known   = idgw.IPPort{Addr: netip.MustParseAddr("84.125.93.10"), Port: 59028}
	unknown = idgw.IPPort{Addr: netip.MustParseAddr("2001:db8::1")}
	at      = time.Date(2026, 12, 7, 23, 59, 1, 0, time.FixedZone("CET", 3600))
)

func TestLookupAnswers(t *testing.T) {
	net := &network{}
	srv := httptest.NewServer(net)
	defer srv.Close()
	l, err := New(Config{URL: srv.URL + "/v1/lines", BearerToken: "s3cret", Timeout: 2 * time.Second, MaxAnswer: 256})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e164.Parse("+447400123456")
	if n, err := l.SubscriberAt(context.Background(), known, at); err != nil || n != want {
		t.Fatalf("a known address: %d %v", n, err)
	}
	if n, err := l.SubscriberAt(context.Background(), unknown, at); !errors.Is(err, idgw.ErrAddressUnknown) || n != 0 {
		t.Fatalf("an unknown address: %d %v", n, err)
	}
	net.mu.Lock()
	q, b := net.asked, net.bearer
	net.mu.Unlock()
	if len(q) != 2 || q[0]["address"] != "84.125.93.10" || q[0]["port"] != float64(59028) || q[0]["at"] != "2026-12-07T22:59:01Z" ||
		q[1]["address"] != "2001:db8::1" || q[1]["port"] != nil || b[0] != "Bearer s3cret" {
		t.Fatalf("the service was asked %v with %v", q, b)
	}

	// Answers that are not the protocol's are failures, never a number
	// nor "unknown".
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"oversized", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"msisdn": "+447400123456", "pad": "` + strings.Repeat("x", 300) + `"}`))
		}},
		{"a server error", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`+447400123456`)) }},
		{"two objects", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"msisdn":"+447400123456"}{}`)) }},
		{"no msisdn", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"msisdn": ""}`)) }},
		{"not a number", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"msisdn": "+99912"}`)) }},
	} {
		net.set(c.answer)
		if n, err := l.SubscriberAt(context.Background(), known, at); err == nil || errors.Is(err, idgw.ErrAddressUnknown) || n != 0 {
			t.Errorf("%s: %d %v, want a failure", c.name, n, err)
		}
	}
	// An answer at the limit is read.
	net.set(func(w http.ResponseWriter, _ *http.Request) {
		body := `{"msisdn": "447400123456", "pad": "`
		_, _ = w.Write([]byte(body + strings.Repeat("x", 256-len(body)-2) + `"}`))
	})
	if n, err := l.SubscriberAt(context.Background(), known, at); err != nil || n != want {
		t.Fatalf("an answer of exactly MaxAnswer bytes: %d %v", n, err)
	}
}

// TestLookupSlowServiceTimesOut: a service that does not answer within
// Timeout is a failure, in about Timeout, not a wait on the SP's request
// as long as the service likes.
func TestLookupSlowServiceTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handler
	l, err := New(Config{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = l.SubscriberAt(context.Background(), known, at)
	if took := time.Since(start); err == nil || errors.Is(err, idgw.ErrAddressUnknown) || took > 3*time.Second {
		t.Fatalf("a silent service: %v after %v", err, took)
	}
	// The caller's deadline ends it as well.
	l, _ = New(Config{URL: srv.URL, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := l.SubscriberAt(ctx, known, at); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent service past the caller's deadline: %v after %v", err, time.Since(start))
	}
}

// TestLookupOverMutualTLS: the service behind TLS with the operator's CA,
// asking for the gateway's client certificate; a service whose
// certificate that CA did not sign is refused.
func TestLookupOverMutualTLS(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := ca.WriteFiles(t, dir, "gateway")
	srv := httptest.NewUnstartedServer(&network{})
	srv.TLS = ca.NodeTLS(t, "lookup", ca.Pool) // requires a client certificate of the CA
	srv.StartTLS()
	defer srv.Close()

	tc, err := LoadTLS(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{URL: srv.URL, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.SubscriberAt(context.Background(), known, at); err != nil || n == 0 {
		t.Fatalf("over mutual TLS: %d %v", n, err)
	}
	// Without the client certificate the service refuses the handshake.
	noCert, _ := LoadTLS(caFile, "", "")
	l, _ = New(Config{URL: srv.URL, TLS: noCert})
	if _, err := l.SubscriberAt(context.Background(), known, at); err == nil {
		t.Fatal("a lookup without the client certificate succeeded")
	}
	// The system's roots do not know the operator's CA.
	l, _ = New(Config{URL: srv.URL, TLS: &tls.Config{Certificates: tc.Certificates}})
	if _, err := l.SubscriberAt(context.Background(), known, at); err == nil {
		t.Fatal("a lookup trusting the system's roots accepted the operator's CA")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{URL: ""},
		{URL: "ftp://lookup.example/"},
		{URL: "http://lookup.example/v1/lines"}, // plain http off loopback
		{URL: "https://user:pw@lookup.example/"},
		{URL: "https://lookup.example/", BearerToken: "a\r\nX-Injected: 1"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for _, u := range []string{"https://lookup.example/v1/lines", "http://127.0.0.1:9000/", "http://[::1]:9000/", "http://localhost:9000/"} {
		if _, err := New(Config{URL: u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := LoadTLS("", "cert.pem", ""); err == nil {
		t.Error("a client certificate without its key was accepted")
	}
}
