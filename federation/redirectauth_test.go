package federation

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/redirectauth"
)

// externalAuthenticator is an operator's own authenticator behind a page:
// it verifies the gateway's signed request with the operator's public key
// and sends the browser back to the request's return URL with its signed
// answer (the person said yes), dated age ago.
type externalAuthenticator struct {
	t        *testing.T
	srv      *httptest.Server
	key      *jose.Key    // its own, signs the answers
	operator *jose.KeySet // the operator's public key
	mu       sync.Mutex
	age      time.Duration // how old its answers are
	last     map[string]any
}

func startExternalAuthenticator(t *testing.T, operatorKey *jose.Key) *externalAuthenticator {
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := jose.ParseJWKS([]byte(`{"keys":[` + string(operatorKey.Public()) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := &externalAuthenticator{t: t, key: k, operator: set}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *externalAuthenticator) serve(w http.ResponseWriter, r *http.Request) {
	payload, h, err := jose.Verify(r.URL.Query().Get("request"), e.operator, jose.ES256)
	var req map[string]any
	if err != nil || h.Typ != redirectauth.RequestTyp || json.Unmarshal(payload, &req) != nil || req["aud"] != e.srv.URL+"/auth" {
		http.Error(w, "bad request", 400)
		return
	}
	e.mu.Lock()
	e.last = req
	age := e.age
	e.mu.Unlock()
	answer := e.sign(e.key, map[string]any{"iss": e.srv.URL + "/auth", "aud": req["iss"], "nonce": req["nonce"],
		"iat": time.Now().Add(-age).Unix(), "result": "ok"})
	http.Redirect(w, r, req["return_url"].(string)+"?response="+url.QueryEscape(answer), http.StatusFound)
}

func (e *externalAuthenticator) sign(k *jose.Key, claims map[string]any) string {
	s, err := jose.SignTyped(k, redirectauth.AnswerTyp, claims)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *externalAuthenticator) lastRequest() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// TestRedirectAdaptorLogin: a gateway whose only LoA 3 authenticator is an
// external one reached through the redirect adaptor (a row of the table,
// its level and amr from the settings). A login: the browser goes to the
// external page with the operator's signed request (the SP's name, the
// binding message, the masked number, the level), comes back with the
// external authenticator's signed answer, and the verified ID token says
// acr 3, amr PUSH_OK. Refused: an answer signed with another key (the
// login goes on untouched), the same answer replayed, and a stale answer
// (the login ends access_denied).
func TestRedirectAdaptorLogin(t *testing.T) {
	opKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	ext := startExternalAuthenticator(t, opKey)
	o := startOperatorNodeWith(t, "otp", func(cfg *Config, _ *handset.Handset) {
		priv, err := opKey.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		settings, _ := json.Marshal(map[string]any{"name": "push", "loa": 3, "amr": []string{"PUSH_OK"},
			"url": ext.srv.URL + "/auth", "signing_key": json.RawMessage(priv),
			"jwks": json.RawMessage(`{"keys":[` + string(ext.key.Public()) + `]}`), "max_age": "1m"})
		cfg.Authenticators = []AuthenticatorConfig{{Type: "redirect", Settings: settings}}
	})
	sim := &simNode{operatorNode: o}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, navigate bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if navigate {
			req.Header.Set("Sec-Fetch-Mode", "navigate")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// toExternal starts a login and follows it to the external page,
	// returning the return URL with the answer the page gave.
	toExternal := func(state string) string {
		t.Helper()
		resp := get(sim.authorizeACR("3", state), true)
		if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), ext.srv.URL+"/auth?request=") {
			t.Fatalf("authorize: want the external page, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = get(resp.Header.Get("Location"), true)
		if resp.StatusCode != 302 {
			t.Fatalf("the external page refused the gateway's request: %d", resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}

	back := toExternal("push")
	req := ext.lastRequest()
	if req["sp_name"] != "Corner Shop" || req["binding_message"] != "Order for the corner" || req["loa"] != float64(3) ||
		req["number"] == "" || strings.Contains(req["number"].(string), strings.TrimPrefix(smsActive, "+")) || req["msisdn"] != nil {
		t.Fatalf("the signed request: %+v", req)
	}
	// A forged answer: the same claims, another key. Refused; the login
	// is untouched.
	forger, _ := jose.GenerateKey(jose.ES256)
	forged := ext.sign(forger, map[string]any{"iss": ext.srv.URL + "/auth", "aud": req["iss"], "nonce": req["nonce"],
		"iat": time.Now().Unix(), "result": "ok"})
	if resp := get(req["return_url"].(string)+"?response="+url.QueryEscape(forged), true); resp.StatusCode != 400 {
		t.Fatalf("a forged answer: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp := get(back, true)
	if resp.StatusCode != 303 {
		t.Fatalf("the answer at the return URL: %d", resp.StatusCode)
	}
	acr, amr := sim.idToken(o.codeFrom(get(resp.Header.Get("Location"), true), "push"))
	if acr != "3" || strings.Join(amr, ",") != "PUSH_OK" {
		t.Fatalf("ID token acr %q amr %v, want 3 and PUSH_OK", acr, amr)
	}
	// The same answer again: its nonce is spent.
	if resp := get(back, true); resp.StatusCode != 400 {
		t.Fatalf("a replayed answer: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A stale answer (older than max_age) ends its challenge: expired,
	// and with no other authenticator at level 3, access_denied. (Another
	// browser: this one has a session now, single sign-on.)
	browser.Jar, _ = cookiejar.New(nil)
	ext.mu.Lock()
	ext.age = 5 * time.Minute
	ext.mu.Unlock()
	resp = get(toExternal("stale"), true)
	if resp.StatusCode != 303 {
		t.Fatalf("a stale answer at the return URL: %d", resp.StatusCode)
	}
	if d := sim.deniedFrom(get(resp.Header.Get("Location"), false)); !strings.Contains(d, "expired") {
		t.Fatalf("a stale answer's login ended with %q", d)
	}
}
