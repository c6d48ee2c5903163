package idgw

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// objectServer is an SP's server of request objects on loopback: what it
// serves at each path, and how often each path was fetched.
type objectServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body map[string]string
	hits map[string]int
}

func newObjectServer(t *testing.T) *objectServer {
	s := &objectServer{body: map[string]string{}, hits: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits[r.URL.Path]++
		switch b, ok := s.body[r.URL.Path]; {
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/ro/1", http.StatusFound)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
			w.Write([]byte(b))
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *objectServer) url(path string) string { return s.srv.URL + path }

func (s *objectServer) serve(path, body string) { s.mu.Lock(); s.body[path] = body; s.mu.Unlock() }

func (s *objectServer) fetched(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// TestRequestURI: an SP that registered request_uris may send its signed
// request object by reference at /authorize, /si-authorize and
// /bc-authorize; the gateway fetches only those URIs, once per request,
// without following redirects or reading more than a request object's
// size, and verifies what it fetched as an object sent by value.
func TestRequestURI(t *testing.T) {
	f := newBCFixture(t)
	objects := newObjectServer(t)
	var registered []string
	for _, p := range []string{"/ro/1", "/ro/si", "/missing", "/big", "/moved", "/forged"} {
		registered = append(registered, objects.url(p))
	}
	f.register(registry.ServiceProvider{ClientID: "sishop", JWKS: jwksOf(f.key), NotificationURIs: []string{f.notify.url},
		RequestURIs: registered})
	objects.serve("/big", strings.Repeat("a", requestObjectMaxBytes+1))
	objects.serve("/forged", f.jar(spKey(t, jose.RS256, 1), nil))

	// By reference at /authorize: fetched, verified, the phone challenged.
	objects.serve("/ro/1", f.jar(f.key, nil))
	status, loc, body := f.getQuery("/authorize", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/ro/1")}})
	if status != 302 && status != 200 || strings.Contains(loc, "error=") || strings.Contains(body, "invalid_request") {
		t.Fatalf("a request by reference: %d %s %.300s", status, loc, body)
	}
	if n := objects.fetched("/ro/1"); n != 1 {
		t.Fatalf("the request object was fetched %d times, want 1", n)
	}
	f.phone.mu.Lock()
	started := f.phone.started
	f.phone.mu.Unlock()
	if started != 1 {
		t.Fatalf("a request by reference challenges the phone once, got %d", started)
	}

	refused := func(what, code string, args url.Values) {
		t.Helper()
		status, loc, body := f.getQuery("/authorize", args)
		if status != 400 || loc != "" || !strings.Contains(body, code) {
			t.Fatalf("%s: want 400 %s without a redirect, got %d %q %.300s", what, code, status, loc, body)
		}
	}
	// The same object served again (another request around it; the same
	// URL again is the SDK's re-poll of the login it started): its jti is
	// spent.
	refused("the same object fetched again", "invalid_request_object", url.Values{"client_id": {"sishop"},
		"request_uri": {objects.url("/ro/1")}, "ui_locales": {"en"}})
	refused("an unregistered URI", "invalid_request_uri", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/ro/2")}})
	if n := objects.fetched("/ro/2"); n != 0 {
		t.Fatalf("an unregistered request_uri was fetched %d times", n)
	}
	refused("a URI that answers 404", "invalid_request_uri", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/missing")}})
	refused("a URI that serves too much", "invalid_request_uri", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/big")}})
	before := objects.fetched("/ro/1")
	refused("a URI that redirects", "invalid_request_uri", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/moved")}})
	if objects.fetched("/ro/1") != before {
		t.Fatal("the gateway followed a request_uri's redirect")
	}
	refused("a forged object", "invalid_request_object", url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/forged")}})
	refused("both request and request_uri", "invalid_request", url.Values{"client_id": {"sishop"},
		"request": {f.jar(f.key, nil)}, "request_uri": {objects.url("/ro/1")}})

	// By reference at /si-authorize: the login runs, its result is pushed.
	objects.serve("/ro/si", f.requestObject(nil))
	status, ack := f.send("POST", "/si-authorize", "application/x-www-form-urlencoded",
		url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/ro/si")}}.Encode())
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" || ack["correlation_id"] != "si-corr" {
		t.Fatalf("an SI request by reference: %d %v", status, ack)
	}
	f.phone.answer(redNumber, Succeeded)
	f.round()
	if got := f.notify.all(); len(got) != 1 || got[0].body["auth_req_id"] != id || got[0].body["id_token"] == nil {
		t.Fatalf("the SI result of a request by reference: %v", got)
	}
	if status, body := f.send("POST", "/si-authorize", "application/x-www-form-urlencoded",
		url.Values{"client_id": {"sishop"}, "request_uri": {objects.url("/ro/2")}}.Encode()); status != 400 || body["error"] != "invalid_request_uri" {
		t.Fatalf("SI with an unregistered request_uri: %d %v", status, body)
	}

	// By reference at /bc-authorize (CIBA, the client authenticated).
	tillKey := spKey(t, jose.ES256, 0)
	f.register(registry.ServiceProvider{ClientID: "till", JWKS: jwksOf(tillKey), RequestURIs: []string{objects.url("/ro/till")}})
	now := f.clock.now()
	ro, err := jose.Sign(tillKey, map[string]any{"iss": "till", "aud": "https://red.example/", "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": newSecret(), "scope": "openid", "login_hint": "tel:" + redNumber,
		"binding_message": "Till 4 pays 3 EUR"})
	if err != nil {
		t.Fatal(err)
	}
	objects.serve("/ro/till", ro)
	status, ack = f.ciba("/bc-authorize", "till", url.Values{"request_uri": {objects.url("/ro/till")}})
	if status != 200 || ack["auth_req_id"] == nil {
		t.Fatalf("a CIBA request by reference: %d %v", status, ack)
	}
	// An SP that registered none is told request_uri is not for it.
	f.cibaSP("plain", "")
	if status, body := f.ciba("/bc-authorize", "plain", url.Values{"request_uri": {objects.url("/ro/till")}}); status != 400 || body["error"] != "request_uri_not_supported" {
		t.Fatalf("CIBA request_uri of an SP without request_uris: %d %v", status, body)
	}

	// The metadata says so.
	_, m, _, _ := f.get("/.well-known/openid-configuration", "")
	// The algorithms a request object may be signed with are those it is
	// verified with: a client's.
	if algs := fmt.Sprint(m["request_object_signing_alg_values_supported"]); algs != "[RS256 PS256 ES256]" ||
		algs != fmt.Sprint(m["backchannel_authentication_request_signing_alg_values_supported"]) {
		t.Fatalf("metadata: request objects signed with %s", algs)
	}
	if m["request_uri_parameter_supported"] != true || m["require_request_uri_registration"] != true {
		t.Fatalf("metadata: request_uri_parameter_supported %v, require_request_uri_registration %v",
			m["request_uri_parameter_supported"], m["require_request_uri_registration"])
	}
}

// TestProductionGatewayRefusesInternalRequestURI: a production gateway
// fetches a registered request_uri as it fetches a jwks_uri, so one that
// is on loopback or a private network is never connected to, and the SP
// is told only invalid_request_uri.
func TestProductionGatewayRefusesInternalRequestURI(t *testing.T) {
	f := newTokenFixture(t) // issuer https://red.example/
	log := f.logTo()
	k := spKey(t, jose.ES256, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveJWKS(t, ln, true, []byte("eyJ.e30.x"))
	for i, uri := range []string{srv.url, "https://10.1.2.3/ro", "https://169.254.169.254/latest/ro"} {
		id := "internal-" + string(rune('a'+i))
		if err := f.addSP(registry.ServiceProvider{ClientID: id, JWKS: jwksOf(k), RequestURIs: []string{uri}}); err != nil {
			t.Fatal(err)
		}
		resp, err := f.app.Test(httptest.NewRequest("GET", "/authorize?"+url.Values{"client_id": {id}, "request_uri": {uri}}.Encode(), nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "invalid_request_uri") {
			t.Errorf("%s: %d %.300s, want 400 invalid_request_uri", uri, resp.StatusCode, b)
		}
		if line := logLine(log.String(), "client_id="+id+" "); !strings.Contains(line, "not a public address") {
			t.Errorf("%s: the gateway's log says %q, want the reason", uri, line)
		}
	}
	if n := srv.conns.Load(); n != 0 {
		t.Fatalf("the gateway connected to a loopback request_uri (%d connections)", n)
	}
}

// TestRequestURIFetchesBudgeted: whoever knows an SP's client_id can name
// its registered request_uri; past the SP's budget of fetches on a node
// the gateway answers temporarily_unavailable without fetching, and
// fetches again as the budget refills.
func TestRequestURIFetchesBudgeted(t *testing.T) {
	f := newBCFixture(t)
	objects := newObjectServer(t)
	f.register(registry.ServiceProvider{ClientID: "hammered", JWKS: jwksOf(f.key), RequestURIs: []string{objects.url("/gone")}})
	args := url.Values{"client_id": {"hammered"}, "request_uri": {objects.url("/gone")}}
	for i := range requestURIFetchBudget.Burst {
		if status, _, body := f.getQuery("/authorize", args); status != 400 || !strings.Contains(body, "invalid_request_uri") {
			t.Fatalf("request %d within the budget: %d %.200s", i+1, status, body)
		}
	}
	if n := objects.fetched("/gone"); n != requestURIFetchBudget.Burst {
		t.Fatalf("%d fetches within the budget, want %d", n, requestURIFetchBudget.Burst)
	}
	if status, _, body := f.getQuery("/authorize", args); status != 400 || !strings.Contains(body, "temporarily_unavailable") {
		t.Fatalf("past the budget: %d %.200s", status, body)
	}
	if n := objects.fetched("/gone"); n != requestURIFetchBudget.Burst {
		t.Fatalf("fetched past the budget: %d fetches", n)
	}
	f.clock.advance(time.Second)
	if status, _, body := f.getQuery("/authorize", args); status != 400 || !strings.Contains(body, "invalid_request_uri") {
		t.Fatalf("once the budget refilled: %d %.200s", status, body)
	}
	if n := objects.fetched("/gone"); n != requestURIFetchBudget.Burst+1 {
		t.Fatalf("%d fetches once the budget refilled, want %d", n, requestURIFetchBudget.Burst+1)
	}
}
