package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// stoppedClock stands still until the test moves it: budgets refill when
// the test says, however slow the machine.
type stoppedClock struct{ unixNano atomic.Int64 }

func newStoppedClock() *stoppedClock {
	c := &stoppedClock{}
	c.unixNano.Store(time.Now().UnixNano())
	return c
}

func (c *stoppedClock) now() time.Time { return time.Unix(0, c.unixNano.Load()) }

func (c *stoppedClock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// answer is an HTTP answer as the budget tests read it.
type answer struct {
	status int
	header http.Header
	body   string
}

// from sends a request from the loopback address src (Linux routes all
// of 127/8 to lo, so each is another client), with the headers given as
// name, value pairs, and a JSON body when body is not nil.
func from(t *testing.T, src, method, url string, body any, headers ...string) answer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	client := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
	defer client.CloseIdleConnections()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// tooMany checks a is the admin listener's 429: problem+json, with a
// Retry-After of at most the 5 seconds a failure takes to come back.
func tooMany(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != 429 || a.header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(a.body, "too many failed authentications from this address") {
		t.Fatalf("%s: %d %s %s, want a 429 problem", what, a.status, a.header.Get("Content-Type"), a.body)
	}
	if ra := a.header.Get("Retry-After"); ra == "" || ra > "5" || len(ra) != 1 {
		t.Fatalf("%s: Retry-After %q, want 1 to 5 seconds", what, ra)
	}
}

// addressFailures is the admin listener's budget per address
// (budget.DefaultAddressFailures' burst).
const addressFailures = 20

// TestJoinFailureBudget: random join tokens from one address get 403
// until the address's budget is spent, then 429 with Retry-After before
// the token is looked at, counted on /metrics and logged once without the
// token; a node joining from another address with its right token is
// admitted, and the guessing address gets a failure back 5 seconds later.
func TestJoinFailureBudget(t *testing.T) {
	clock := newStoppedClock()
	var logs syncBuffer
	f := startFedWith(t, 2, func(c *Config) {
		c.now = clock.now
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	// Guessed at a follower, which asks the leader: the leader's refusal
	// comes back as a refused token and spends the follower's budget.
	fl := f.follower()
	join := f.nodes[fl].AdminURL() + "/v1/cluster/join"
	guess := func(i int) answer {
		return from(t, "127.0.0.2", "POST", join, raft.JoinRequest{ID: "n9", RaftAddr: "127.0.0.1:1", AdminURL: "http://127.0.0.1:2",
			Token: "guess-" + string(rune('a'+i%26)) + strings.Repeat("x", i), NodeVerifier: registry.HashSecret("s")})
	}
	for i := range addressFailures {
		if a := guess(i); a.status != 403 {
			t.Fatalf("guess %d: %d %s, want 403", i+1, a.status, a.body)
		}
	}
	tooMany(t, "a guess past the budget", guess(addressFailures))
	if strings.Count(logs.String(), "authentication failures over budget") != 1 ||
		!strings.Contains(logs.String(), "127.0.0.2") || strings.Contains(logs.String(), "guess-") {
		t.Fatalf("log: %s", logs.String())
	}

	// A node whose operator mistyped its token twice, from another
	// address, then starts with the right one: admitted.
	token := f.joinToken(0, "n3", "")
	for range 2 {
		if a := from(t, "127.0.0.1", "POST", join, raft.JoinRequest{ID: "n3", RaftAddr: "127.0.0.1:1", AdminURL: "http://127.0.0.1:2",
			Token: token + "typo", NodeVerifier: registry.HashSecret("s")}); a.status != 403 {
			t.Fatalf("a mistyped token: %d %s", a.status, a.body)
		}
	}
	cfg := testNodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3"))
	cfg.Join, cfg.JoinToken = f.nodes[fl].AdminURL(), token
	n3, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("the right token from another address: %v", err)
	}
	t.Cleanup(func() { n3.Close() })
	f.waitFor("n3 in the follower's registry", func() bool { return f.nodes[fl].Raft().Registry().Node("n3") != nil })

	body := scrape(t, f.nodes[fl])
	if v := mustSample(t, body, `mcfed_http_requests_total{listener="admin",method="POST",route="/v1/cluster/join",status="429"}`); v != 1 {
		t.Fatalf("429s counted: %v", v)
	}
	// A failure comes back every 5 seconds: one more guess, then 429.
	clock.advance(5 * time.Second)
	if a := guess(0); a.status != 403 {
		t.Fatalf("5 s later: %d %s", a.status, a.body)
	}
	tooMany(t, "the guess after", guess(1))
}

// TestAdminTokenFailureBudget: wrong admin tokens and unknown issued
// credentials spend their address's budget; past it that address gets
// 429 whatever its token (the right one too, until a failure comes back),
// while the right token from another address works throughout.
func TestAdminTokenFailureBudget(t *testing.T) {
	clock := newStoppedClock()
	f := startFedWith(t, 1, func(c *Config) { c.now = clock.now })
	status := f.nodes[0].AdminURL() + "/v1/cluster/status"
	for i := range addressFailures {
		tok := "wrong-admin-token-" + strings.Repeat("x", i)
		if i%2 == 1 {
			tok = "mcfed_nosuchid" + strings.Repeat("x", i) + "_secret" // well-formed, unknown
		}
		if a := from(t, "127.0.0.2", "GET", status, nil, "Authorization", "Bearer "+tok); a.status != 401 {
			t.Fatalf("wrong token %d: %d %s", i+1, a.status, a.body)
		}
	}
	tooMany(t, "a wrong token past the budget", from(t, "127.0.0.2", "GET", status, nil, "Authorization", "Bearer wrong"))
	tooMany(t, "the right token from the spent address", from(t, "127.0.0.2", "GET", status, nil, "Authorization", "Bearer "+testAdminToken))
	if a := from(t, "127.0.0.1", "GET", status, nil, "Authorization", "Bearer "+testAdminToken); a.status != 200 {
		t.Fatalf("the right token from another address: %d %s", a.status, a.body)
	}
	if a := from(t, "127.0.0.1", "GET", status, nil, "Authorization", "Bearer "+f.fedToken); a.status != 200 {
		t.Fatalf("an issued credential from another address: %d %s", a.status, a.body)
	}
	clock.advance(5 * time.Second)
	if a := from(t, "127.0.0.2", "GET", status, nil, "Authorization", "Bearer "+testAdminToken); a.status != 200 {
		t.Fatalf("the right token 5 s later: %d %s", a.status, a.body)
	}
}

// TestTrustedProxyBudgets: behind a trusted proxy, clients with different
// X-Forwarded-For addresses have budgets of their own, and one cannot
// take another's by writing it on the left of the header; a client that
// is not the proxy cannot choose its address with the header at all. The
// same address is the one discovery's budget keys on.
func TestTrustedProxyBudgets(t *testing.T) {
	const proxy, direct = "127.0.0.2", "127.0.0.3"
	clock := newStoppedClock()
	f := startFedWith(t, 1, func(c *Config) {
		c.now = clock.now
		c.TrustedProxies = []string{proxy + "/32"}
		c.PublicAddr = "127.0.0.1:0"
	})
	status := f.nodes[0].AdminURL() + "/v1/cluster/status"
	wrong := func(src, xff string) answer {
		return from(t, src, "GET", status, nil, "Authorization", "Bearer wrong-token", "X-Forwarded-For", xff)
	}
	for i := range addressFailures {
		if a := wrong(proxy, "203.0.113.1"); a.status != 401 {
			t.Fatalf("client A's failure %d: %d", i+1, a.status)
		}
	}
	tooMany(t, "client A past its budget", wrong(proxy, "203.0.113.1"))
	if a := wrong(proxy, "203.0.113.2"); a.status != 401 {
		t.Fatalf("client B behind the same proxy: %d %s, want its own budget", a.status, a.body)
	}
	tooMany(t, "client A writing another address on the left", wrong(proxy, "198.51.100.9, 203.0.113.1"))
	if a := from(t, proxy, "GET", status, nil, "Authorization", "Bearer "+testAdminToken, "X-Forwarded-For", "203.0.113.2"); a.status != 200 {
		t.Fatalf("client B with the right token: %d %s", a.status, a.body)
	}

	// Not from the proxy: the header names nobody, each attempt spends the
	// connection's own budget.
	for i := range addressFailures {
		if a := wrong(direct, "192.0.2."+string(rune('1'+i%9))); a.status != 401 {
			t.Fatalf("direct failure %d: %d", i+1, a.status)
		}
	}
	tooMany(t, "a direct client naming a fresh address", wrong(direct, "192.0.2.200"))
	if a := wrong(proxy, "203.0.113.3"); a.status != 401 {
		t.Fatalf("another client behind the proxy: %d", a.status)
	}

	// Discovery keys its failures on the same address.
	disc := f.nodes[0].PublicURL() + "/v2/discovery?Redirect_URL=https://shop.example/cb&MSISDN=447911123456"
	wrongSP := func(xff string) answer {
		return from(t, proxy, "GET", disc, nil, "Authorization", "Basic bm9ib2R5Ondyb25n", "X-Forwarded-For", xff)
	}
	for i := range addressFailures {
		if a := wrongSP("203.0.113.1"); a.status != 401 {
			t.Fatalf("discovery failure %d: %d %s", i+1, a.status, a.body)
		}
	}
	if a := wrongSP("203.0.113.1"); a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Fatalf("discovery past A's budget: %d %s", a.status, a.body)
	}
	if a := wrongSP("203.0.113.2"); a.status != 401 {
		t.Fatalf("discovery for B: %d %s", a.status, a.body)
	}
}
