package idgw

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
	"github.com/mcfed/mcfed/registry"
)

// notifyServer is an SP's notification endpoint on loopback: it records
// what the gateway POSTs and answers 204, or 503 while down.
type notifyServer struct {
	t    *testing.T
	url  string
	mu   sync.Mutex
	down bool
	got  []notification
}

type notification struct {
	bearer string
	body   map[string]any
	acked  bool
}

func newNotifyServer(t *testing.T) *notifyServer {
	s := &notifyServer{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, notification{bearer: r.Header.Get("Authorization"), body: body, acked: !s.down})
		if s.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/notify"
	return s
}

func (s *notifyServer) setDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *notifyServer) all() []notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notification(nil), s.got...)
}

// bcFixture is a loopback gateway (so it may notify loopback servers)
// whose phone answers when the test says, with an SP "sishop" that signs
// SI request objects and authenticates by private_key_jwt, registered
// with the notification server.
type bcFixture struct {
	*tokenFixture
	phone  *phoneAuthenticator
	key    *jose.Key
	notify *notifyServer
}

func newBCFixture(t *testing.T) *bcFixture {
	t.Helper()
	phone := newPhone()
	g, _ := flowGateway(t, subscriberMap{red(t): {MSISDN: red(t), Active: true}},
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"SMS_URL_OK"}}, phone})
	clock := &fakeClock{t: time.Now()}
	cfg := g.cfg
	cfg.Issuer = "http://127.0.0.1:8080/"
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	useClock(g, clock.now)
	if _, err := g.cfg.Keys.Ensure(clock.now(), jose.RS256, jose.ES256); err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	f := &bcFixture{tokenFixture: &tokenFixture{t: t, g: g, app: app, clock: clock}, phone: phone,
		key: spKey(t, jose.RS256, 0), notify: newNotifyServer(t)}
	f.register(registry.ServiceProvider{ClientID: "sishop", JWKS: jwksOf(f.key), NotificationURIs: []string{f.notify.url}})
	return f
}

func (f *bcFixture) register(sp registry.ServiceProvider) {
	f.t.Helper()
	if err := f.addSP(sp); err != nil {
		f.t.Fatal(err)
	}
}

// requestObject is an SI request object of sishop for the red number,
// good for a minute; edit changes claims (nil deletes one).
func (f *bcFixture) requestObject(edit map[string]any) string {
	f.t.Helper()
	now := f.clock.now()
	c := map[string]any{"iss": "sishop", "aud": "https://red.example/", "client_id": "sishop",
		"response_type": "mc_si_async_code", "scope": "openid mc_authn", "version": "mc_si_r2_v1.0",
		"nonce": newSecret(), "jti": newSecret(), "login_hint": "MSISDN:" + strings.TrimPrefix(redNumber, "+"),
		"acr_values": 2, "notification_uri": f.notify.url, "client_notification_token": "cnt-1",
		"correlation_id": "si-corr", "binding_message": "Pay Shop 20 GBP",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
	for k, v := range edit {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := jose.Sign(f.key, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// send makes an HTTP request to the gateway and decodes its JSON answer.
func (f *bcFixture) send(method, target, contentType, body string) (int, map[string]any) {
	f.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// si sends an SI request as JSON (the MTS client's shape).
func (f *bcFixture) si(ro string) (int, map[string]any) {
	b, _ := json.Marshal(map[string]string{"client_id": "sishop", "response_type": "mc_si_async_code",
		"scope": "openid mc_authn", "request": ro})
	return f.send("POST", "/si-authorize", "application/json", string(b))
}

func (f *bcFixture) round() { f.g.backchannelRound(context.Background()) }

func TestSIPushApprovedInEveryRequestShape(t *testing.T) {
	f := newBCFixture(t)
	form := func(ro string) url.Values {
		return url.Values{"client_id": {"sishop"}, "scope": {"openid mc_authn"}, "response_type": {"mc_si_async_code"}, "request": {ro}}
	}
	shapes := map[string]func(ro string) (int, map[string]any){
		"GET query": func(ro string) (int, map[string]any) {
			return f.send("GET", "/si-authorize?"+form(ro).Encode(), "", "")
		},
		"POST with query": func(ro string) (int, map[string]any) {
			return f.send("POST", "/si-authorize?"+form(ro).Encode(), "", "")
		},
		"POST form": func(ro string) (int, map[string]any) {
			return f.send("POST", "/si-authorize", "application/x-www-form-urlencoded", form(ro).Encode())
		},
		"POST JSON": f.si,
	}
	for name, send := range shapes {
		status, ack := send(f.requestObject(nil))
		id, _ := ack["auth_req_id"].(string)
		if status != 200 || id == "" || ack["expires_in"] != float64(300) || ack["correlation_id"] != "si-corr" {
			t.Fatalf("%s: %d %v", name, status, ack)
		}
		// Not answered yet: nothing is delivered.
		f.round()
		if n := len(f.notify.all()); n != 0 {
			t.Fatalf("%s: %d notifications before the person answered", name, n)
		}
		f.phone.answer(redNumber, Succeeded)
		f.round()
		got := f.notify.all()
		if len(got) != 1 {
			t.Fatalf("%s: %d notifications after approval, want 1", name, len(got))
		}
		n := got[0]
		access, _ := n.body["access_token"].(string)
		if n.bearer != "Bearer cnt-1" || n.body["auth_req_id"] != id || access == "" || n.body["id_token"] == nil ||
			n.body["token_type"] != "Bearer" || n.body["correlation_id"] != "si-corr" {
			t.Fatalf("%s: notification %q %v", name, n.bearer, n.body)
		}
		payload, _, err := jose.VerifyJWKS(n.body["id_token"].(string), f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
		if err != nil || !strings.Contains(string(payload), `"aud":["sishop"]`) || !strings.Contains(string(payload), `"amr":["SMS_URL_OK"]`) {
			t.Fatalf("%s: the pushed ID token: %v %s", name, err, payload)
		}
		if s, _, _, _ := f.get("/userinfo", "Bearer "+access); s != 200 {
			t.Fatalf("%s: the pushed access token at userinfo: %d", name, s)
		}
		// Delivered once: later rounds send nothing more.
		f.clock.advance(time.Hour)
		f.round()
		if n := len(f.notify.all()); n != 1 {
			t.Fatalf("%s: %d notifications in all, want 1", name, n)
		}
		f.notify.mu.Lock()
		f.notify.got = nil
		f.notify.mu.Unlock()
		f.phone.answer(redNumber, Pending)
	}
	if n := liveCount(t, f.g, "idgw.ciba"); n != 0 {
		t.Fatalf("%d logins left in the store", n)
	}
}

func TestSIPushRefusedAndTimedOut(t *testing.T) {
	f := newBCFixture(t)
	// Refused on the phone.
	status, ack := f.si(f.requestObject(nil))
	if status != 200 {
		t.Fatalf("SI request: %d %v", status, ack)
	}
	f.phone.answer(redNumber, Failed)
	f.round()
	got := f.notify.all()
	if len(got) != 1 || got[0].body["error"] != "access_denied" || got[0].body["auth_req_id"] != ack["auth_req_id"] ||
		got[0].body["access_token"] != nil || got[0].body["correlation_id"] != "si-corr" {
		t.Fatalf("refusal notification: %+v", got)
	}

	// Not answered in time: expired_token once expires_in has passed.
	f.phone.answer(redNumber, Pending)
	status, ack = f.si(f.requestObject(nil))
	if status != 200 {
		t.Fatalf("SI request: %d %v", status, ack)
	}
	f.clock.advance(4 * time.Minute)
	f.round()
	if n := len(f.notify.all()); n != 1 {
		t.Fatalf("a notification before the login expired: %d", n)
	}
	f.clock.advance(time.Minute + time.Second)
	f.round()
	got = f.notify.all()
	if len(got) != 2 || got[1].body["error"] != "expired_token" || got[1].body["auth_req_id"] != ack["auth_req_id"] {
		t.Fatalf("timeout notification: %+v", got)
	}
}

func TestSINotificationEndpointDownThenUp(t *testing.T) {
	f := newBCFixture(t)
	f.notify.setDown(true)
	if status, ack := f.si(f.requestObject(nil)); status != 200 {
		t.Fatalf("SI request: %d %v", status, ack)
	}
	f.phone.answer(redNumber, Succeeded)
	f.round() // approved; the first delivery fails
	f.round() // within the back-off: nothing
	if n := len(f.notify.all()); n != 1 {
		t.Fatalf("%d attempts right after a failure, want 1 (back-off)", n)
	}
	f.clock.advance(notifyBackoff(1))
	f.round()
	if n := len(f.notify.all()); n != 2 {
		t.Fatalf("%d attempts after the back-off, want 2", n)
	}
	f.notify.setDown(false)
	f.clock.advance(notifyBackoff(2))
	f.round()
	for range 3 {
		f.clock.advance(10 * time.Minute)
		f.round()
	}
	got := f.notify.all()
	acked := 0
	for _, n := range got {
		if n.acked {
			acked++
		}
	}
	if len(got) != 3 || acked != 1 || !got[2].acked {
		t.Fatalf("%d deliveries, %d acknowledged; want 3 and 1 (the last)", len(got), acked)
	}
	// Only the acknowledged delivery's tokens work: those the SP never
	// acknowledged were revoked.
	for i, n := range got {
		s, _, _, _ := f.get("/userinfo", "Bearer "+n.body["access_token"].(string))
		if want := map[bool]int{true: 200, false: 401}[n.acked]; s != want {
			t.Fatalf("delivery %d's access token at userinfo: %d, want %d", i, s, want)
		}
	}
}

func TestSIRefusesBadRequests(t *testing.T) {
	f := newBCFixture(t)
	other := spKey(t, jose.RS256, 1)
	forged, err := jose.Sign(other, map[string]any{"iss": "sishop", "aud": "https://red.example/", "nonce": "n",
		"jti": "j-forged", "exp": f.clock.now().Add(time.Minute).Unix(), "scope": "openid",
		"login_hint": "MSISDN:" + strings.TrimPrefix(redNumber, "+"), "notification_uri": f.notify.url,
		"client_notification_token": "t"})
	if err != nil {
		t.Fatal(err)
	}
	replayed := f.requestObject(map[string]any{"jti": "once"})
	if status, ack := f.si(replayed); status != 200 {
		t.Fatalf("the first use of a request object: %d %v", status, ack)
	}
	for _, c := range []struct {
		name, ro string
		code     string
	}{
		{"forged", forged, "invalid_request_object"},
		{"replayed jti", replayed, "invalid_request_object"},
		{"unregistered notification_uri", f.requestObject(map[string]any{"notification_uri": "https://evil.example/cb"}), "invalid_request"},
		{"no notification token", f.requestObject(map[string]any{"client_notification_token": nil}), "invalid_request"},
		{"wrong aud", f.requestObject(map[string]any{"aud": "https://blue.example/"}), "invalid_request_object"},
		{"expired", f.requestObject(map[string]any{"exp": f.clock.now().Add(-time.Hour).Unix()}), "invalid_request_object"},
		{"no nonce", f.requestObject(map[string]any{"nonce": nil}), "invalid_request_object"},
		{"iss not the client", f.requestObject(map[string]any{"iss": "shop"}), "invalid_request_object"},
		{"link in binding_message", f.requestObject(map[string]any{"binding_message": "see https://x.example"}), "invalid_binding_message"},
	} {
		status, body := f.si(c.ro)
		if status != 400 || body["error"] != c.code || body["auth_req_id"] != nil {
			t.Fatalf("%s: %d %v, want 400 %s", c.name, status, body, c.code)
		}
	}
	f.round()
	if n := len(f.notify.all()); n != 0 {
		t.Fatalf("refused requests led to %d notifications", n)
	}
}

// cibaSP registers a CIBA client that authenticates by private_key_jwt,
// in mode ("" poll, or ping to the notification server).
func (f *bcFixture) cibaSP(id, mode string) {
	sp := registry.ServiceProvider{ClientID: id, JWKS: jwksOf(spKey(f.t.(*testing.T), jose.ES256, 0)), BackchannelTokenDeliveryMode: mode}
	if mode == registry.DeliveryPing {
		sp.BackchannelClientNotificationEndpoint = f.notify.url
	}
	f.register(sp)
}

// ciba posts to the backchannel or token endpoint as client id, with a
// fresh assertion.
func (f *bcFixture) ciba(path, id string, form url.Values) (int, map[string]any) {
	f.t.Helper()
	status, body, _ := f.postTo(path, "", withAssertion(form, f.assertion(spKey(f.t.(*testing.T), jose.ES256, 0), id, nil)))
	return status, body
}

func (f *bcFixture) poll(id, authReqID string) (int, map[string]any) {
	return f.ciba("/token", id, url.Values{"grant_type": {grantCIBA}, "auth_req_id": {authReqID}})
}

func TestCIBAPollPendingSlowDownThenTokens(t *testing.T) {
	f := newBCFixture(t)
	f.cibaSP("till", "")
	status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber},
		"binding_message": {"Till 4 pays 12 EUR"}, "requested_expiry": {"120"}})
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" || ack["expires_in"] != float64(120) || ack["interval"] != float64(5) {
		t.Fatalf("backchannel request: %d %v", status, ack)
	}
	if status, body := f.poll("till", id); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", status, body)
	}
	// Too soon: slow_down, and the interval grows by 5 s.
	f.clock.advance(2 * time.Second)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "slow_down" {
		t.Fatalf("a poll within the interval: %d %v", status, body)
	}
	f.clock.advance(6 * time.Second) // 6 s since: enough for 5, not for 10
	if status, body := f.poll("till", id); status != 400 || body["error"] != "slow_down" {
		t.Fatalf("a poll within the grown interval: %d %v", status, body)
	}
	f.clock.advance(16 * time.Second)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("a poll after the interval: %d %v", status, body)
	}
	// Another client cannot redeem it.
	f.cibaSP("thief", "")
	f.clock.advance(20 * time.Second)
	if status, body := f.poll("thief", id); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("another client's poll: %d %v", status, body)
	}
	f.phone.answer(redNumber, Succeeded)
	status, body := f.poll("till", id)
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil || body["refresh_token"] == nil {
		t.Fatalf("the poll after approval: %d %v", status, body)
	}
	payload, _, err := jose.VerifyJWKS(body["id_token"].(string), f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	if err != nil || strings.Contains(string(payload), `"nonce"`) || !strings.Contains(string(payload), `"aud":["till"]`) {
		t.Fatalf("the CIBA ID token (no nonce was sent): %v %s", err, payload)
	}
	// The auth_req_id is spent.
	f.clock.advance(20 * time.Second)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("a replayed auth_req_id: %d %v", status, body)
	}
}

func TestCIBARefusedAndExpired(t *testing.T) {
	f := newBCFixture(t)
	f.cibaSP("till", "")
	start := func() string {
		status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(redNumber, "+")}})
		if status != 200 {
			t.Fatalf("backchannel request: %d %v", status, ack)
		}
		return ack["auth_req_id"].(string)
	}
	id := start()
	f.phone.answer(redNumber, Failed)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "access_denied" {
		t.Fatalf("refused: %d %v", status, body)
	}
	f.phone.answer(redNumber, Pending)
	id = start()
	f.clock.advance(bcDefaultExpiry)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "expired_token" {
		t.Fatalf("expired: %d %v", status, body)
	}
	f.clock.advance(10 * time.Second)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the expired auth_req_id again: %d %v", status, body)
	}
}

func TestCIBAPingMode(t *testing.T) {
	f := newBCFixture(t)
	f.cibaSP("bank", registry.DeliveryPing)
	if status, body := f.ciba("/bc-authorize", "bank", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber}}); status != 400 ||
		body["error"] != "invalid_request" {
		t.Fatalf("ping without client_notification_token: %d %v", status, body)
	}
	status, ack := f.ciba("/bc-authorize", "bank", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber},
		"client_notification_token": {"ping-token"}})
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("backchannel request: %d %v", status, ack)
	}
	f.round()
	if n := len(f.notify.all()); n != 0 {
		t.Fatalf("pinged before the person answered: %d", n)
	}
	f.phone.answer(redNumber, Succeeded)
	f.round()
	f.round()
	got := f.notify.all()
	if len(got) != 1 || got[0].bearer != "Bearer ping-token" || got[0].body["auth_req_id"] != id || len(got[0].body) != 1 {
		t.Fatalf("ping: %+v", got)
	}
	status, body := f.poll("bank", id)
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("the token request after the ping: %d %v", status, body)
	}
}

func TestBackchannelDecoyAnswersAlike(t *testing.T) {
	f := newBCFixture(t)
	f.cibaSP("till", "")
	// +447911000001 is red's range but no subscriber.
	status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {"tel:+447911000001"}})
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" || ack["expires_in"] != float64(300) || ack["interval"] != float64(5) {
		t.Fatalf("an unknown number's request: %d %v", status, ack)
	}
	if status, body := f.poll("till", id); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("an unknown number's poll: %d %v", status, body)
	}
	f.phone.mu.Lock()
	started := f.phone.started
	f.phone.mu.Unlock()
	if started != 0 {
		t.Fatalf("the phone was challenged %d times for a number that is no subscriber", started)
	}
	f.clock.advance(bcDefaultExpiry)
	if status, body := f.poll("till", id); status != 400 || body["error"] != "expired_token" {
		t.Fatalf("an unknown number's login at its end: %d %v", status, body)
	}
}

func TestBackchannelLoginSurvivesARestart(t *testing.T) {
	f := newBCFixture(t)
	path := filepath.Join(t.TempDir(), "state.db")
	first := openTestStoreAt(t, path)
	f.rebuild(first)
	f.cibaSP("till", "")
	status, ack := f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber}})
	if status != 200 {
		t.Fatalf("backchannel request: %d %v", status, ack)
	}
	// The node stops: its store is closed and opened again, and a new
	// gateway (no memory of the first) answers the poll.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := openTestStoreAt(t, path)
	t.Cleanup(func() { again.Close() })
	f.rebuild(again)
	f.phone.answer(redNumber, Succeeded)
	if status, body := f.poll("till", ack["auth_req_id"].(string)); status != 200 || body["access_token"] == nil {
		t.Fatalf("the poll after the restart: %d %v", status, body)
	}
}

// openTestStoreAt opens an embedded store at path on the test's clock;
// the caller closes it.
func openTestStoreAt(t *testing.T, path string) *testStore {
	t.Helper()
	ts := &testStore{}
	s, err := embedded.Open(path, state.Options{Now: func() time.Time {
		if c := ts.clock.Load(); c != nil {
			return (*c)()
		}
		return time.Now()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Store = s
	return ts
}

// rebuild replaces f's gateway by a new one on store, as a node started
// again: the same configuration, no memory of the last.
func (f *bcFixture) rebuild(store *testStore) {
	f.t.Helper()
	cfg := f.g.cfg
	cfg.Store = store
	g, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	useClock(g, f.clock.now)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		f.t.Fatal(err)
	}
	f.g, f.app = g, app
}

func TestMetadataAdvertisesServedBackchannelEndpoints(t *testing.T) {
	f := newBCFixture(t)
	status, m, _, _ := f.get("/.well-known/openid-configuration", "")
	if status != 200 || m["backchannel_authentication_endpoint"] != "http://127.0.0.1:8080/bc-authorize" ||
		m["backchannel_user_code_parameter_supported"] != false || m["si_authorization_endpoint"] == nil {
		t.Fatalf("metadata: %d %v", status, m)
	}
	modes, _ := json.Marshal(m["backchannel_token_delivery_modes_supported"])
	grants, _ := json.Marshal(m["grant_types_supported"])
	if string(modes) != `["poll","ping"]` || !strings.Contains(string(grants), grantCIBA) {
		t.Fatalf("modes %s, grants %s", modes, grants)
	}
	// Each advertised endpoint is served: a request without credentials
	// gets an OAuth error, not 404.
	for _, p := range []string{"/si-authorize", "/bc-authorize"} {
		if status, body := f.send("POST", p, "application/x-www-form-urlencoded", ""); status == 404 || body["error"] == nil {
			t.Fatalf("POST %s: %d %v", p, status, body)
		}
	}
}

// oncePhone succeeds once, as the SMS link does: a second check of the
// same challenge finds it used.
type oncePhone struct {
	*phoneAuthenticator
	used sync.Mutex
	done bool
}

func (p *oncePhone) Check(ctx context.Context, state []byte, answer url.Values) (Outcome, error) {
	out, err := p.phoneAuthenticator.Check(ctx, state, answer)
	p.used.Lock()
	defer p.used.Unlock()
	if out.Status == Succeeded {
		if p.done {
			return Outcome{Status: Failed, Reason: "the code or link has already been used"}, nil
		}
		p.done = true
	}
	return out, err
}

// TestBackchannelDeliveredOnceAcrossNodes: two nodes sharing the store run
// their loops at once over a login whose authenticator reports its success
// once; the SP gets one notification, with tokens.
func TestBackchannelDeliveredOnceAcrossNodes(t *testing.T) {
	for i := range 5 {
		f := newBCFixture(t)
		phone := &oncePhone{phoneAuthenticator: f.phone}
		r, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"SMS_URL_OK"}}, phone})
		if err != nil {
			t.Fatal(err)
		}
		f.g.cfg.Router = r
		f.rebuild(f.g.cfg.Store.(*testStore))
		a := f.g
		f.rebuild(f.g.cfg.Store.(*testStore))
		b := f.g
		if status, ack := f.si(f.requestObject(nil)); status != 200 {
			t.Fatalf("SI request: %d %v", status, ack)
		}
		f.phone.answer(redNumber, Succeeded)
		var wg sync.WaitGroup
		for _, g := range []*Gateway{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					g.backchannelRound(context.Background())
				}
			}()
		}
		wg.Wait()
		// A node that lost a race leaves the rest to a later round.
		for range 3 {
			a.backchannelRound(context.Background())
			b.backchannelRound(context.Background())
		}
		got := f.notify.all()
		if len(got) != 1 || got[0].body["access_token"] == nil {
			t.Fatalf("run %d: %d notifications %+v, want one with tokens", i, len(got), got)
		}
	}
}

// TestCIBAHintsAndSignedRequests: the subscriber named by an ID token the
// client got before (id_token_hint), by a login_hint_token the client
// signed, or inside a signed request; ipport (no network lookup here) and two hints at once are
// refused.
func TestCIBAHintsAndSignedRequests(t *testing.T) {
	f := newBCFixture(t)
	f.g.cfg.PCRIndex = newPCRMap()
	f.cibaSP("till", "")
	k := spKey(t, jose.ES256, 0)
	f.phone.answer(redNumber, Succeeded)
	login := func(form url.Values) map[string]any {
		t.Helper()
		status, ack := f.ciba("/bc-authorize", "till", form)
		if status != 200 {
			t.Fatalf("backchannel request %v: %d %v", form, status, ack)
		}
		f.clock.advance(10 * time.Second)
		status, body := f.poll("till", ack["auth_req_id"].(string))
		if status != 200 {
			t.Fatalf("poll: %d %v", status, body)
		}
		return body
	}
	subOf := func(idToken string) string {
		payload, _, err := jose.VerifyJWKS(idToken, f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Sub string }
		_ = json.Unmarshal(payload, &c)
		return c.Sub
	}
	first := login(url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber}})
	sub := subOf(first["id_token"].(string))

	// id_token_hint: the same subscriber again.
	again := login(url.Values{"scope": {"openid"}, "id_token_hint": {first["id_token"].(string)}})
	if got := subOf(again["id_token"].(string)); got != sub {
		t.Fatalf("id_token_hint led to sub %q, want %q", got, sub)
	}
	// login_hint_token: a subject identifier the client signed.
	lht, err := jose.Sign(k, map[string]any{"sub_id": map[string]any{"format": "phone_number", "phone_number": redNumber}})
	if err != nil {
		t.Fatal(err)
	}
	if got := subOf(login(url.Values{"scope": {"openid"}, "login_hint_token": {lht}})["id_token"].(string)); got != sub {
		t.Fatalf("login_hint_token led to sub %q, want %q", got, sub)
	}
	// A signed request: its claims are the request.
	now := f.clock.now()
	ro, err := jose.Sign(k, map[string]any{"iss": "till", "aud": "https://red.example", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "nbf": now.Unix(), "jti": "ro-1", "scope": "openid", "login_hint": "tel:" + redNumber,
		"binding_message": "Till 4"})
	if err != nil {
		t.Fatal(err)
	}
	if got := subOf(login(url.Values{"request": {ro}})["id_token"].(string)); got != sub {
		t.Fatalf("signed request led to sub %q, want %q", got, sub)
	}

	forged, err := jose.Sign(spKey(t, jose.ES256, 1), map[string]any{"sub_id": map[string]any{"format": "phone_number", "phone_number": redNumber}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		form url.Values
		code string
	}{
		{"ipport without a network lookup", url.Values{"scope": {"openid"}, "login_hint": {"ipport:80.90.34.2:16790"}}, "invalid_request"},
		{"two hints", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber}, "id_token_hint": {first["id_token"].(string)}}, "invalid_request"},
		{"no hint", url.Values{"scope": {"openid"}}, "invalid_request"},
		{"forged login_hint_token", url.Values{"scope": {"openid"}, "login_hint_token": {forged}}, "invalid_request"},
		{"id_token_hint not ours", url.Values{"scope": {"openid"}, "id_token_hint": {lht}}, "invalid_request"},
		{"replayed signed request", url.Values{"request": {ro}}, "invalid_request_object"},
		{"no openid", url.Values{"scope": {"mc_authn"}, "login_hint": {"tel:" + redNumber}}, "invalid_scope"},
		{"user_code", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + redNumber}, "user_code": {"1234"}}, "invalid_request"},
	} {
		if status, body := f.ciba("/bc-authorize", "till", c.form); status != 400 || body["error"] != c.code {
			t.Fatalf("%s: %d %v, want 400 %s", c.name, status, body, c.code)
		}
	}
	// Without client authentication: invalid_client.
	if status, body := f.send("POST", "/bc-authorize", "application/x-www-form-urlencoded",
		url.Values{"client_id": {"till"}, "scope": {"openid"}, "login_hint": {"tel:" + redNumber}}.Encode()); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("unauthenticated: %d %v", status, body)
	}
}

// TestSIDecoyForSuspendedAndUnknown: an SI request for a suspended
// subscriber or a number that is none is acknowledged as a real one is;
// nothing reaches a phone, and the SP hears expired_token at the end, as
// for a request nobody answered.
func TestSIDecoyForSuspendedAndUnknown(t *testing.T) {
	f := newBCFixture(t)
	suspended, err := e164.Parse("+447911000002")
	if err != nil {
		t.Fatal(err)
	}
	f.g.cfg.Subscribers = subscriberMap{red(t): {MSISDN: red(t), Active: true}, suspended: {MSISDN: suspended, Active: false}}
	for i, hint := range []string{"MSISDN:447911000002", "MSISDN:447911000001"} {
		status, ack := f.si(f.requestObject(map[string]any{"login_hint": hint}))
		if status != 200 || ack["auth_req_id"] == nil || ack["expires_in"] != float64(300) || ack["correlation_id"] != "si-corr" {
			t.Fatalf("%s: %d %v", hint, status, ack)
		}
		f.round()
		if n := len(f.notify.all()); n != i {
			t.Fatalf("%s: a notification before the end", hint)
		}
		f.clock.advance(bcDefaultExpiry)
		f.round()
		got := f.notify.all()
		if len(got) != i+1 || got[i].body["error"] != "expired_token" || got[i].body["auth_req_id"] != ack["auth_req_id"] {
			t.Fatalf("%s: %+v", hint, got)
		}
	}
	f.phone.mu.Lock()
	defer f.phone.mu.Unlock()
	if f.phone.started != 0 {
		t.Fatalf("the phone was challenged %d times", f.phone.started)
	}
}
