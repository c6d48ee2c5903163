package idgw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

const redToken = "https://red.example/token" // red's token endpoint, an assertion's aud

// spKey is a key an SP signs its assertions with; keys are generated once
// per test binary (RSA generation is slow).
var (
	spKeysOnce sync.Once
	spKeyByAlg map[jose.Alg][]*jose.Key
)

func spKey(t *testing.T, alg jose.Alg, n int) *jose.Key {
	t.Helper()
	spKeysOnce.Do(func() {
		spKeyByAlg = map[jose.Alg][]*jose.Key{}
		for _, a := range assertionAlgs {
			for range 3 {
				k, err := jose.GenerateKey(a)
				if err != nil {
					panic(err)
				}
				spKeyByAlg[a] = append(spKeyByAlg[a], k)
			}
		}
	})
	return spKeyByAlg[alg][n]
}

func jwksOf(keys ...*jose.Key) json.RawMessage {
	raw := make([]json.RawMessage, len(keys))
	for i, k := range keys {
		raw[i] = k.Public()
	}
	b, _ := json.Marshal(map[string]any{"keys": raw})
	return b
}

// addSP registers an SP accepted by red, with the fixture's redirect URI and
// scopes; sp carries its credentials.
func (f *tokenFixture) addSP(sp registry.ServiceProvider) error {
	reg := f.g.cfg.Registry.(*registry.Registry)
	sp.Name, sp.RedirectURIs, sp.Scopes = "SP "+sp.ClientID, []string{shopCB}, []string{"openid", "mc_authn"}
	sp.Operators, sp.Status = []string{"red"}, registry.StatusActive
	return reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, sp))
}

// assertion is a client assertion of clientID signed with k, good for a
// minute from the fixture's clock, with a fresh jti; edit changes claims
// (nil deletes one).
func (f *tokenFixture) assertion(k *jose.Key, clientID string, edit map[string]any) string {
	f.t.Helper()
	now := f.clock.now()
	c := map[string]any{"iss": clientID, "sub": clientID, "aud": redToken,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": newSecret()}
	for name, v := range edit {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	tok, err := jose.Sign(k, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// withAssertion adds client_assertion (and its type) to form.
func withAssertion(form url.Values, assertion string) url.Values {
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", assertion)
	return form
}

// unsigned makes a JWT with the given header and claims and sig as its
// signature segment.
func unsigned(header string, claims map[string]any, sig []byte) string {
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(claims)
	return b64([]byte(header)) + "." + b64(payload) + "." + b64(sig)
}

func TestPrivateKeyJWTGetsTokens(t *testing.T) {
	f := newTokenFixture(t)
	rs, ps, es := spKey(t, jose.RS256, 0), spKey(t, jose.PS256, 0), spKey(t, jose.ES256, 0)
	// Keys only: the SP has no secret at all.
	if err := f.addSP(registry.ServiceProvider{ClientID: "keyshop", JWKS: jwksOf(rs, ps, es)}); err != nil {
		t.Fatalf("an SP with keys and no secret is refused: %v", err)
	}
	for _, k := range []*jose.Key{rs, ps, es} {
		code := f.code("client_id", "keyshop", "state", "s-"+string(k.Alg()))
		status, body, www := f.redeem("", withAssertion(codeForm(code), f.assertion(k, "keyshop", nil)))
		if status != 200 || body["access_token"] == nil || body["id_token"] == nil || www != "" {
			t.Fatalf("%s assertion: %d %v", k.Alg(), status, body)
		}
	}
	// client_id may come too, aud may be a list, and the issuer will do.
	code := f.code("client_id", "keyshop", "state", "s-list")
	form := withAssertion(codeForm(code, "client_id", "keyshop"),
		f.assertion(es, "keyshop", map[string]any{"aud": []string{"https://else.example/", "https://red.example/"}}))
	status, body, _ := f.redeem("", form)
	if status != 200 {
		t.Fatalf("assertion with aud list naming the issuer: %d %v", status, body)
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)

	// The refresh, introspection and revocation endpoints take assertions
	// too, aud naming the token endpoint or the endpoint itself.
	status, body, _ = f.redeem("", withAssertion(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}},
		f.assertion(rs, "keyshop", nil)))
	if status != 200 {
		t.Fatalf("refresh with an assertion: %d %v", status, body)
	}
	access = body["access_token"].(string)
	_, got, _ := f.postTo("/introspect", "", withAssertion(url.Values{"token": {access}},
		f.assertion(rs, "keyshop", map[string]any{"aud": f.g.paths.introspection})))
	if got["active"] != true || got["client_id"] != "keyshop" {
		t.Fatalf("introspection with an assertion: %v", got)
	}
	if status, body, _ := f.postTo("/revoke", "", withAssertion(url.Values{"token": {access}},
		f.assertion(rs, "keyshop", map[string]any{"aud": "https://red.example/revoke"}))); status != 200 {
		t.Fatalf("revocation with an assertion: %d %v", status, body)
	}
	if _, ok := f.g.access.get(context.Background(), tokenKey(access)); ok {
		t.Fatal("revocation with an assertion left the token alive")
	}

	// Without a secret, no secret opens it: not the empty one, not the hash.
	for _, basic := range []string{"keyshop:" + shopSecret, "keyshop:", "keyshop:" + registry.HashSecret("")} {
		status, body, _ := f.redeem(basic, codeForm(f.code("client_id", "keyshop", "state", "s-secret")))
		if status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("keys-only SP with secret %q: %d %v", basic, status, body)
		}
	}
}

func TestPrivateKeyJWTRefusals(t *testing.T) {
	f := newTokenFixture(t)
	rs, es := spKey(t, jose.RS256, 0), spKey(t, jose.ES256, 0)
	other := spKey(t, jose.RS256, 1) // registered by nobody
	if err := f.addSP(registry.ServiceProvider{ClientID: "keyshop", JWKS: jwksOf(rs, es)}); err != nil {
		t.Fatal(err)
	}
	// An SP with both a secret and keys: its secret must not work as an
	// HMAC key for an assertion.
	if err := f.addSP(registry.ServiceProvider{ClientID: "both", SecretHash: registry.HashSecret(shopSecret), JWKS: jwksOf(rs)}); err != nil {
		t.Fatal(err)
	}
	now := f.clock.now()
	forged := func() string { // another key's signature under rs's kid
		good, bad := strings.Split(f.assertion(rs, "keyshop", nil), "."), strings.Split(f.assertion(other, "keyshop", nil), ".")
		return good[0] + "." + bad[1] + "." + bad[2]
	}
	claims := map[string]any{"iss": "both", "sub": "both", "aud": redToken, "exp": now.Add(time.Minute).Unix(), "jti": "j-hs"}
	mac := hmac.New(sha256.New, []byte(shopSecret))
	hsHeader := `{"alg":"HS256","kid":"` + rs.KID() + `","typ":"JWT"}`
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(claims)
	mac.Write([]byte(b64([]byte(hsHeader)) + "." + b64(payload)))
	hs256 := unsigned(hsHeader, claims, mac.Sum(nil))

	for _, tc := range []struct {
		name      string
		assertion string
		form      []string // more form fields
		basic     string
		status    int
		error     string
	}{
		{"wrong aud", f.assertion(rs, "keyshop", map[string]any{"aud": "https://blue.example/token"}), nil, "", 401, "invalid_client"},
		{"no aud", f.assertion(rs, "keyshop", map[string]any{"aud": nil}), nil, "", 401, "invalid_client"},
		{"expired", f.assertion(rs, "keyshop", map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), nil, "", 401, "invalid_client"},
		{"no exp", f.assertion(rs, "keyshop", map[string]any{"exp": nil}), nil, "", 401, "invalid_client"},
		{"exp an hour ahead", f.assertion(rs, "keyshop", map[string]any{"exp": now.Add(time.Hour).Unix()}), nil, "", 401, "invalid_client"},
		{"iat in the future", f.assertion(rs, "keyshop", map[string]any{"iat": now.Add(5 * time.Minute).Unix()}), nil, "", 401, "invalid_client"},
		{"nbf in the future", f.assertion(rs, "keyshop", map[string]any{"nbf": now.Add(5 * time.Minute).Unix()}), nil, "", 401, "invalid_client"},
		{"no jti", f.assertion(rs, "keyshop", map[string]any{"jti": nil}), nil, "", 401, "invalid_client"},
		{"iss is not sub", f.assertion(rs, "keyshop", map[string]any{"iss": "both"}), nil, "", 401, "invalid_client"},
		{"unknown client", f.assertion(rs, "nobody", nil), nil, "", 401, "invalid_client"},
		{"unregistered key", f.assertion(other, "keyshop", nil), nil, "", 401, "invalid_client"},
		{"another key under a registered kid", forged(), nil, "", 401, "invalid_client"},
		{"another client's keys", f.assertion(es, "both", nil), nil, "", 401, "invalid_client"},
		{"alg none", unsigned(`{"alg":"none","kid":"`+rs.KID()+`"}`, map[string]any{"iss": "keyshop", "sub": "keyshop", "aud": redToken, "exp": now.Add(time.Minute).Unix(), "jti": "j-none"}, nil), nil, "", 401, "invalid_client"},
		{"HS256 with the client secret", hs256, nil, "", 401, "invalid_client"},
		{"client_id is another client", f.assertion(rs, "keyshop", nil), []string{"client_id", "both"}, "", 401, "invalid_client"},
		{"wrong assertion type", f.assertion(rs, "keyshop", nil), []string{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, "", 401, "invalid_client"},
		{"no assertion type", f.assertion(rs, "keyshop", nil), []string{"client_assertion_type", ""}, "", 400, "invalid_request"},
		{"not a JWT", "not-a-jwt", nil, "", 401, "invalid_client"},
		{"too long", strings.Repeat("a", maxAssertionLen+1), nil, "", 401, "invalid_client"},
		{"assertion and client_secret", f.assertion(rs, "both", nil), []string{"client_id", "both", "client_secret", shopSecret}, "", 400, "invalid_request"},
		{"assertion and Basic", f.assertion(rs, "both", nil), nil, "both:" + shopSecret, 400, "invalid_request"},
	} {
		code := f.code("client_id", "keyshop", "state", "s-refused")
		form := withAssertion(codeForm(code), tc.assertion)
		for i := 0; i < len(tc.form); i += 2 {
			form.Set(tc.form[i], tc.form[i+1])
		}
		status, body, _ := f.redeem(tc.basic, form)
		if status != tc.status || body["error"] != tc.error || body["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.error)
		}
		// A refused client does not spend the user's code.
		if status, body, _ := f.redeem("", withAssertion(codeForm(code), f.assertion(rs, "keyshop", nil))); status != 200 {
			t.Errorf("%s: the code does not work after the refusal: %d %v", tc.name, status, body)
		}
	}
	// The same SP's secret still works: it registered both.
	if status, body, _ := f.redeem("both:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("secret of an SP with keys: %d %v", status, body)
	}
}

func TestAssertionIsSingleUse(t *testing.T) {
	f := newTokenFixture(t)
	rs := spKey(t, jose.RS256, 0)
	if err := f.addSP(registry.ServiceProvider{ClientID: "keyshop", JWKS: jwksOf(rs)}); err != nil {
		t.Fatal(err)
	}
	a := f.assertion(rs, "keyshop", nil)
	if status, body, _ := f.redeem("", withAssertion(codeForm(f.code("client_id", "keyshop")), a)); status != 200 {
		t.Fatalf("first use: %d %v", status, body)
	}
	status, body, _ := f.redeem("", withAssertion(codeForm(f.code("client_id", "keyshop", "state", "s2")), a))
	if status != 401 || body["error"] != "invalid_client" || !strings.Contains(body["error_description"].(string), "jti") {
		t.Fatalf("replayed assertion: %d %v", status, body)
	}
	// At another endpoint too, and of many at once exactly one wins.
	a = f.assertion(rs, "keyshop", nil)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if status, _, _ := f.postTo("/introspect", "", withAssertion(url.Values{"token": {"x"}}, a)); status == 200 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("one assertion authenticated %d concurrent requests", ok.Load())
	}
}

// jwksServer is an SP's JWKS endpoint on a real listener, serving whatever
// set it is given (or a redirect to ?redirect=, or status ?status=),
// counting the connections made to it and its requests. While held, it
// answers nothing until released: a slow server.
type jwksServer struct {
	url   string
	conns atomic.Int32
	hits  atomic.Int32
	body  atomic.Value                  // []byte
	gate  atomic.Pointer[chan struct{}] // while set, requests wait for it to close
	held  chan struct{}                 // a request that waits reports here
}

// hold makes the server's requests wait until release is called.
func (s *jwksServer) hold(t *testing.T) (release func()) {
	gate := make(chan struct{})
	s.gate.Store(&gate)
	var once sync.Once
	release = func() { once.Do(func() { s.gate.Store(nil); close(gate) }) }
	t.Cleanup(release) // before the server closes, which waits for its requests
	return release
}

// waitHeld waits until a request waits at the held server.
func (s *jwksServer) waitHeld(t *testing.T, what string) {
	t.Helper()
	select {
	case <-s.held:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the gateway did not fetch the jwks_uri", what)
	}
}

// newJWKSServer serves body over plain http on 127.0.0.1.
func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveJWKS(t, ln, false, body)
}

// serveJWKS serves body on ln, over https if tls (with a certificate no
// one trusts: a gateway that connects fails the handshake, but connects).
func serveJWKS(t *testing.T, ln net.Listener, tls bool, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{held: make(chan struct{}, 16)}
	s.body.Store(body)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if gate := s.gate.Load(); gate != nil {
			s.held <- struct{}{}
			select {
			case <-*gate:
			case <-r.Context().Done():
			}
		}
		if to := r.URL.Query().Get("redirect"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		if code, _ := strconv.Atoi(r.URL.Query().Get("status")); code != 0 {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(s.body.Load().([]byte))
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	scheme := "http://"
	if tls {
		srv.StartTLS()
		scheme = "https://"
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	s.url = scheme + ln.Addr().String() + "/jwks"
	return s
}

// debugLog is a gateway's log, at Debug, for a test to read.
type debugLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *debugLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *debugLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// logTo makes the fixture's gateway log at Debug to a debugLog.
func (f *tokenFixture) logTo() *debugLog {
	l := &debugLog{}
	f.g.log = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

// newLoopbackTokenFixture is the token fixture with its gateway at a
// loopback issuer, as in dev mode: a loopback deployment, which may fetch
// a jwks_uri from a loopback listener, over plain http too.
func newLoopbackTokenFixture(t *testing.T) *tokenFixture {
	t.Helper()
	f := newTokenFixture(t)
	cfg := f.g.cfg
	cfg.Issuer, cfg.Now = "http://127.0.0.1:8080/", f.clock.now
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	f.g, f.app = g, app
	return f
}

// jwksUnavailable is all a client is told when its jwks_uri fails.
const jwksUnavailable = "client assertion: the client's jwks_uri could not be fetched"

func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	f := newLoopbackTokenFixture(t)
	k1, k2 := spKey(t, jose.ES256, 0), spKey(t, jose.ES256, 1)
	srv := newJWKSServer(t, jwksOf(k1))
	if err := f.addSP(registry.ServiceProvider{ClientID: "urishop", JWKSURI: srv.url}); err != nil {
		t.Fatal(err)
	}
	redeem := func(k *jose.Key) (int, map[string]any) {
		t.Helper()
		status, body, _ := f.redeem("", withAssertion(codeForm(f.code("client_id", "urishop")), f.assertion(k, "urishop", nil)))
		return status, body
	}
	for i := range 3 {
		if status, body := redeem(k1); status != 200 {
			t.Fatalf("assertion %d with the published key: %d %v", i, status, body)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("the JWKS was fetched %d times for 3 assertions, want 1 (cached)", n)
	}

	// The SP rotates to k2. Assertions naming the new kid make the gateway
	// fetch again, but not more often than jwksMinInterval, however many a
	// client sends.
	srv.body.Store([]byte(jwksOf(k2)))
	f.clock.advance(jwksMinInterval / 2)
	for range 5 {
		if status, body := redeem(k2); status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("new kid within the refetch interval: %d %v", status, body)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("unknown kids made the gateway fetch %d times within the interval", n)
	}
	f.clock.advance(jwksMinInterval)
	if status, body := redeem(k2); status != 200 {
		t.Fatalf("the rotated key after the interval: %d %v", status, body)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetches %d, want 2", n)
	}
	// The withdrawn key no longer works.
	if status, _ := redeem(k1); status != 401 {
		t.Fatalf("a key the SP withdrew still authenticates: %d", status)
	}
	// After the cache lifetime the set is fetched again even without an
	// unknown kid. The request is served the cached set at once and the
	// fetch runs behind it: wait for that fetch, then count.
	f.clock.advance(jwksCacheTTL)
	if status, body := redeem(k2); status != 200 {
		t.Fatalf("after the cache lifetime: %d %v", status, body)
	}
	f.g.clientAuth.keys.waitForRefresh(t, srv.url)
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("after the cache lifetime: %d fetches, want 3", n)
	}
}

// waitForRefresh waits until no fetch of the key set of key (a jwks_uri)
// runs: the one a request started in the background is done.
func (c *spKeySets) waitForRefresh(t *testing.T, key string) {
	t.Helper()
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e == nil {
		t.Fatalf("no key set cached for %s", key)
	}
	e.mu.Lock()
	done := e.refreshing
	e.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(2 * jwksFetchTimeout):
		t.Fatalf("the fetch of %s did not end", key)
	}
}

// TestCachedKidIsServedWhileTheKeysRefresh: a slow jwks_uri holds up only
// the requests that need its answer. An assertion with a kid the cached set
// lacks (which anyone can send) waits for the refetch; the SP's requests
// with a cached kid are served meanwhile, and so they are when the set is
// refreshed at the end of its lifetime.
func TestCachedKidIsServedWhileTheKeysRefresh(t *testing.T) {
	f := newLoopbackTokenFixture(t)
	k1, k2 := spKey(t, jose.ES256, 0), spKey(t, jose.ES256, 1)
	srv := newJWKSServer(t, jwksOf(k1))
	if err := f.addSP(registry.ServiceProvider{ClientID: "urishop", JWKSURI: srv.url}); err != nil {
		t.Fatal(err)
	}
	// start redeems a code with an assertion signed by k in a goroutine;
	// the status comes on the channel.
	start := func(k *jose.Key) <-chan int {
		form := withAssertion(codeForm(f.code("client_id", "urishop")), f.assertion(k, "urishop", nil))
		out := make(chan int, 1)
		go func() {
			req := httptest.NewRequest("POST", "/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := f.app.Test(req, -1)
			if err != nil {
				out <- 0
				return
			}
			resp.Body.Close()
			out <- resp.StatusCode
		}()
		return out
	}
	// promptly is the status of a request that must not wait for the
	// held server. The server is held until release, so a request that
	// waits for it would never end: the timer only turns that hang into a
	// failure, with room for a loaded machine.
	promptly := func(what string, res <-chan int) int {
		t.Helper()
		select {
		case status := <-res:
			return status
		case <-time.After(10 * time.Second):
			t.Errorf("%s: waited for the slow jwks_uri", what)
			return <-res // the release at cleanup lets it end
		}
	}
	if status := <-start(k1); status != 200 {
		t.Fatalf("the first assertion: %d", status)
	}

	// The SP adds k2; its server turns slow. Assertions naming k2 make the
	// gateway fetch again, and wait for it.
	srv.body.Store([]byte(jwksOf(k1, k2)))
	release := srv.hold(t)
	f.clock.advance(jwksMinInterval)
	newKid := []<-chan int{start(k2)}
	srv.waitHeld(t, "an unknown kid")
	newKid = append(newKid, start(k2), start(k2))
	for i := range 3 {
		if status := promptly("a cached kid during a refetch", start(k1)); status != 200 {
			t.Errorf("cached kid %d during a refetch: %d", i, status)
		}
	}
	for _, res := range newKid {
		select {
		case status := <-res:
			t.Fatalf("an assertion with the new kid did not wait for the refetch: %d", status)
		default:
		}
	}
	release()
	for _, res := range newKid {
		if status := <-res; status != 200 {
			t.Errorf("the new kid once the refetch is done: %d", status)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("the JWKS was fetched %d times, want 2: one refetch for all", n)
	}

	// At the end of the set's lifetime it is fetched again, in the
	// background: the SP's requests go on with the set they have.
	release = srv.hold(t)
	f.clock.advance(jwksCacheTTL)
	if status := promptly("a cached kid at the end of the set's lifetime", start(k2)); status != 200 {
		t.Errorf("a cached kid at the end of the set's lifetime: %d", status)
	}
	srv.waitHeld(t, "the end of the set's lifetime")
	if status := promptly("a cached kid while the set refreshes", start(k1)); status != 200 {
		t.Errorf("a cached kid while the set refreshes: %d", status)
	}
	release()
}

// TestJWKSURIThatCannotServe: whatever goes wrong with a jwks_uri, the
// client is told only that it could not be fetched (no dial error, no
// remote status to probe a network with); the gateway's log says why.
func TestJWKSURIThatCannotServe(t *testing.T) {
	f := newLoopbackTokenFixture(t)
	log := f.logTo()
	k := spKey(t, jose.ES256, 0)
	priv, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/jwks"
	closed.Close()
	for _, tc := range []struct {
		name, uri string
		body      []byte
		want      string // in the log
	}{
		{"a private key", "", []byte(`{"keys":[` + string(priv) + `]}`), "usable key set"},
		{"a huge body", "", append(append([]byte(`{"keys":[`), []byte(strings.Repeat(string(k.Public())+",", jwksMaxBytes/len(k.Public())+1))...), []byte(string(k.Public())+`]}`)...), "more than"},
		{"not JSON", "", []byte("<html>"), "usable key set"},
		{"a 403", "?status=403", nil, "answered 403"},
		{"nothing listening", closedURL, nil, "connection refused"},
		{"plain http to a host not loopback", "http://sp.example/jwks", nil, "must be https"},
		{"a redirect to plain http", "?redirect=http://sp.example/jwks", nil, "redirects are not followed"},
		{"a redirect on the same host", "?redirect=/jwks", nil, "redirects are not followed"},
		{"a private address", "https://10.1.2.3/jwks", nil, "not a public address"},
	} {
		uri := tc.uri
		if uri == "" || strings.HasPrefix(uri, "?") {
			uri = newJWKSServer(t, tc.body).url + uri
		}
		id := "sp-" + strings.ReplaceAll(tc.name, " ", "-")
		if err := f.addSP(registry.ServiceProvider{ClientID: id, JWKSURI: uri}); err != nil {
			t.Fatal(err)
		}
		status, body, _ := f.redeem("", withAssertion(codeForm(f.code("client_id", "shop")), f.assertion(k, id, nil)))
		if status != 401 || body["error"] != "invalid_client" || body["error_description"] != jwksUnavailable {
			t.Errorf("%s: %d %v, want 401 invalid_client saying %q", tc.name, status, body, jwksUnavailable)
		}
		if line := logLine(log.String(), "client_id="+id+" "); !strings.Contains(line, tc.want) {
			t.Errorf("%s: the gateway's log says %q, want the reason %q", tc.name, line, tc.want)
		}
	}
}

// logLine is the first line of log holding s.
func logLine(log, s string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// TestSPCredentialsAtRegistration checks what the registry takes: an SP
// needs a secret or keys, and gives its keys one way.
func TestSPCredentialsAtRegistration(t *testing.T) {
	f := newTokenFixture(t)
	k := spKey(t, jose.ES256, 0)
	for _, tc := range []struct {
		name string
		sp   registry.ServiceProvider
		ok   bool
	}{
		{"secret only", registry.ServiceProvider{ClientID: "a", SecretHash: registry.HashSecret(shopSecret)}, true},
		{"inline keys only", registry.ServiceProvider{ClientID: "b", JWKS: jwksOf(k)}, true},
		{"jwks_uri only", registry.ServiceProvider{ClientID: "c", JWKSURI: "https://sp.example/jwks"}, true},
		{"nothing", registry.ServiceProvider{ClientID: "d"}, false},
		{"an empty key set", registry.ServiceProvider{ClientID: "e", JWKS: json.RawMessage(`{"keys":[]}`)}, false},
		{"a null key set", registry.ServiceProvider{ClientID: "f", JWKS: json.RawMessage(`null`)}, false},
		{"jwks and jwks_uri", registry.ServiceProvider{ClientID: "g", JWKS: jwksOf(k), JWKSURI: "https://sp.example/jwks"}, false},
		{"a malformed secret hash with keys", registry.ServiceProvider{ClientID: "h", JWKS: jwksOf(k), SecretHash: "plain"}, false},
	} {
		if err := f.addSP(tc.sp); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
