package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
)

func TestParseIPPortHint(t *testing.T) {
	for _, c := range []struct {
		in   string
		addr string
		port uint16
	}{
		{"84.125.93.10:59028", "84.125.93.10", 59028},
		{"84.125.93.10", "84.125.93.10", 0},
		{"80.90.34.2:1", "80.90.34.2", 1},
		{"80.90.34.2:65535", "80.90.34.2", 65535},
		{"[2001:db8::1]:59028", "2001:db8::1", 59028},
		{"[2001:db8::1]", "2001:db8::1", 0},
		{"[2001:DB8:0:0:0:0:0:1]:8080", "2001:db8::1", 8080},
		{"127.0.0.2:40000", "127.0.0.2", 40000}, // mcfed dev's simulated network
	} {
		p, err := ParseIPPort(c.in)
		if err != nil || p.Addr != netip.MustParseAddr(c.addr) || p.Port != c.port {
			t.Errorf("%q: %v %v, want %s port %d", c.in, p, err, c.addr, c.port)
		}
	}
	for _, bad := range []string{
		"", ":59028", "84.125.93.10:", "84.125.93.10:0", "84.125.93.10:65536", "84.125.93.10:059028",
		"84.125.93.10:+5902", "84.125.93.10:5902a", "84.125.93.10:1:2", "84.125.93", "084.125.93.10",
		"84.125.93.256", " 84.125.93.10", "84.125.93.10 ", "host.example:80",
		"2001:db8::1", "2001:db8::1:59028", "[2001:db8::1", "[2001:db8::1]59028", "[2001:db8::1]:",
		"[2001:db8::1]:70000", "[84.125.93.10]:80", "[::ffff:84.125.93.10]:80", "[fe80::1%eth0]:80",
		"[fe80::1]:80", "0.0.0.0:80", "[::]:80", "224.0.0.1:80", "[ff02::1]", "255.255.255.255",
	} {
		if p, err := ParseIPPort(bad); err == nil {
			t.Errorf("%q parsed as %v", bad, p)
		}
	}
}

// addressTable is an operator's network as a table: the lines it sees at
// each address (any port), and what it was asked.
type addressTable struct {
	mu    sync.Mutex
	lines map[netip.Addr]uint64
	err   error
	asked []IPPort
	at    []time.Time
}

func (a *addressTable) SubscriberAt(_ context.Context, p IPPort, at time.Time) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked, a.at = append(a.asked, p), append(a.at, at)
	if a.err != nil {
		return 0, a.err
	}
	n, ok := a.lines[p.Addr]
	if !ok {
		return 0, ErrAddressUnknown
	}
	return n, nil
}

func (a *addressTable) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.asked) }

func number(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := e164.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ipportFixture: red's network sees red's subscriber at 84.125.93.10,
// a blue number (a roaming line) at 84.125.93.11.
func ipportFixture(t *testing.T) (*bcFixture, *addressTable) {
	f := newBCFixture(t)
	net := &addressTable{lines: map[netip.Addr]uint64{
		netip.MustParseAddr("84.125.93.10"): red(t),
		netip.MustParseAddr("2001:db8::1"):  red(t),
		netip.MustParseAddr("84.125.93.11"): number(t, blueNum),
	}}
	f.g.cfg.Addresses = net
	f.cibaSP("till", "")
	return f, net
}

// TestCIBAIPPortHintLogsInTheLine: an ipport hint the operator's network
// maps to a subscriber logs that subscriber in, as a tel: hint for the
// number does (the same sub), asking the network once, at the time the
// request arrived, with the address and port.
func TestCIBAIPPortHintLogsInTheLine(t *testing.T) {
	f, net := ipportFixture(t)
	f.phone.answer(redNumber, Succeeded)
	subs := map[string]string{}
	for _, hint := range []string{"tel:" + redNumber, "ipport:84.125.93.10:59028", "IPPORT:[2001:db8::1]"} {
		asked := net.count()
		sent := f.clock.now()
		status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {hint}})
		if status != 200 || ack["auth_req_id"] == nil {
			t.Fatalf("%s: %d %v", hint, status, ack)
		}
		f.clock.advance(10 * time.Second)
		status, body := f.poll("till", ack["auth_req_id"].(string))
		if status != 200 || body["id_token"] == nil {
			t.Fatalf("%s: poll %d %v", hint, status, body)
		}
		subs[hint] = subOfToken(t, f, body["id_token"].(string))
		if strings.HasPrefix(hint, "tel:") {
			continue
		}
		if net.count() != asked+1 || !net.at[asked].Equal(sent) {
			t.Fatalf("%s: the network was asked %d times, at %v (the request came at %v)", hint, net.count()-asked, net.at, sent)
		}
	}
	if got := net.asked; got[0] != (IPPort{netip.MustParseAddr("84.125.93.10"), 59028}) || got[1] != (IPPort{Addr: netip.MustParseAddr("2001:db8::1")}) {
		t.Fatalf("the network was asked for %v", got)
	}
	if vs := slices.Collect(maps.Values(subs)); vs[0] != vs[1] || vs[1] != vs[2] {
		t.Fatalf("the subjects differ by hint: %v", subs)
	}
}

func subOfToken(t *testing.T, f *bcFixture, idToken string) string {
	t.Helper()
	payload, _, err := jose.VerifyJWKS(idToken, f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub string }
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" {
		t.Fatalf("no sub in %s: %v", payload, err)
	}
	return c.Sub
}

// TestCIBAIPPortUnknownIsADecoy: an address the network does not know,
// and one whose line is another operator's, answer exactly as a number
// that is no subscriber does: acknowledged alike, pending, then
// expired_token; no handset is reached.
func TestCIBAIPPortUnknownIsADecoy(t *testing.T) {
	f, net := ipportFixture(t)
	hints := []string{"tel:+447911000001", "ipport:84.125.93.99:59028", "ipport:84.125.93.11:59028", "ipport:[2001:db8::2]"}
	var ids []string
	var shapes [][]string
	for _, hint := range hints {
		status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {hint}})
		if status != 200 || ack["expires_in"] != float64(300) || ack["interval"] != float64(5) {
			t.Fatalf("%s: %d %v", hint, status, ack)
		}
		ids = append(ids, ack["auth_req_id"].(string))
		shapes = append(shapes, slices.Sorted(maps.Keys(ack)))
	}
	for i := range shapes {
		if !slices.Equal(shapes[i], shapes[0]) {
			t.Fatalf("%s is acknowledged with %v, an unknown number with %v", hints[i], shapes[i], shapes[0])
		}
	}
	if net.count() != 3 {
		t.Fatalf("the network was asked %d times, want 3", net.count())
	}
	f.clock.advance(10 * time.Second)
	for i, id := range ids {
		if status, body := f.poll("till", id); status != 400 || body["error"] != "authorization_pending" {
			t.Fatalf("%s: poll %d %v", hints[i], status, body)
		}
	}
	f.clock.advance(bcDefaultExpiry)
	for i, id := range ids {
		if status, body := f.poll("till", id); status != 400 || body["error"] != "expired_token" {
			t.Fatalf("%s: at its end %d %v", hints[i], status, body)
		}
	}
	f.phone.mu.Lock()
	defer f.phone.mu.Unlock()
	if f.phone.started != 0 {
		t.Fatalf("a handset was challenged %d times", f.phone.started)
	}
}

// TestSIIPPortUnknownIsADecoy: the same through Mobile Connect SI, whose
// result is pushed: expired_token at the end, as for an unknown number.
func TestSIIPPortUnknownIsADecoy(t *testing.T) {
	f, _ := ipportFixture(t)
	status, ack := f.si(f.requestObject(map[string]any{"login_hint": "ipport:84.125.93.99:59028"}))
	if status != 200 || ack["auth_req_id"] == nil || ack["correlation_id"] != "si-corr" {
		t.Fatalf("SI with an unknown address: %d %v", status, ack)
	}
	f.round()
	f.clock.advance(bcDefaultExpiry)
	f.round()
	got := f.notify.all()
	if len(got) != 1 || got[0].body["error"] != "expired_token" || got[0].body["auth_req_id"] != ack["auth_req_id"] {
		t.Fatalf("notifications: %+v", got)
	}
}

// TestIPPortHintRefusals: a malformed hint is invalid_request and asks
// nobody; a gateway without a lookup says it does not serve the form; a
// lookup that fails is temporarily_unavailable; the send budgets are
// spent before the network is asked, and a budget hit asks nobody.
func TestIPPortHintRefusals(t *testing.T) {
	f, net := ipportFixture(t)
	bc := func(hint string) (int, map[string]any) {
		return f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {hint}})
	}
	for _, hint := range []string{"ipport:", "ipport:84.125.93.10:0", "ipport:2001:db8::1", "ipport:[2001:db8::1]:99999", "ipport:example.com:80"} {
		if status, body := bc(hint); status != 400 || body["error"] != "invalid_request" ||
			!strings.Contains(body["error_description"].(string), "malformed") {
			t.Fatalf("%q: %d %v", hint, status, body)
		}
	}
	if net.count() != 0 {
		t.Fatalf("malformed hints asked the network %d times", net.count())
	}

	net.mu.Lock()
	net.err = errors.New("lookup service: 502")
	net.mu.Unlock()
	if status, body := bc("ipport:84.125.93.10:59028"); status != 503 || body["error"] != "temporarily_unavailable" {
		t.Fatalf("a failing lookup: %d %v", status, body)
	}
	net.mu.Lock()
	net.err = nil
	net.mu.Unlock()

	f.g.cfg.SendBudgets = SendBudgets{PerSP: 1, Window: time.Hour}
	if status, ack := bc("ipport:84.125.93.10:59028"); status != 200 || ack["auth_req_id"] == nil {
		t.Fatalf("within the budget: %d %v", status, ack)
	}
	asked := net.count()
	for _, hint := range []string{"ipport:84.125.93.10:59028", "ipport:84.125.93.99:1"} {
		if status, body := bc(hint); status != 429 || body["error"] != "temporarily_unavailable" {
			t.Fatalf("%s over the budget: %d %v", hint, status, body)
		}
	}
	if net.count() != asked {
		t.Fatalf("requests over the budget asked the network %d times", net.count()-asked)
	}

	f.g.cfg.Addresses = nil
	if status, body := bc("ipport:84.125.93.10:59028"); status != 400 || body["error"] != "invalid_request" ||
		!strings.Contains(body["error_description"].(string), "not supported") {
		t.Fatalf("without a lookup: %d %v", status, body)
	}
}
