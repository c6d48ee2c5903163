package federation

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mssp"
)

// simNode is an operator's node whose gateway runs the SIM applet through
// the dev MSSP (TS 102 204 over its REST binding, on loopback) first and
// SMS after it; the active subscriber has a simulated SIM in the handset,
// enrolled with the MSSP and, through the admin API, with the node.
type simNode struct {
	*operatorNode
	mssp *mssp.Server
}

// startSIMNode starts it; msspURL, when set, replaces the MSSP's URL in
// the node's settings (an MSSP that is down).
func startSIMNode(t *testing.T, msspURL string) *simNode {
	return startSIMNodeWith(t, msspURL, []AuthenticatorConfig{{Type: "sim-applet"}, {Type: "sms"}})
}

// startSIMNodeWith starts it with the authenticators of order (the
// sim-applet row's settings are the dev MSSP's).
func startSIMNodeWith(t *testing.T, msspURL string, order []AuthenticatorConfig) *simNode {
	var srv *mssp.Server
	o := startOperatorNodeWith(t, "otp", func(cfg *Config, hs *handset.Handset) {
		var err error
		if srv, err = mssp.Listen("127.0.0.1:0", mssp.Config{APID: "red-gw", APPassword: "mssp-pw", Link: hs}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		hs.ConnectMSSP(srv.FromSIM)
		u := srv.URL()
		if msspURL != "" {
			u = msspURL
		}
		settings, _ := json.Marshal(map[string]any{"mssp_url": u, "ap_id": "red-gw", "ap_password": "mssp-pw", "timeout": "500ms"})
		cfg.Authenticators = slices.Clone(order)
		for i := range cfg.Authenticators {
			if cfg.Authenticators[i].Type == "sim-applet" {
				cfg.Authenticators[i].Settings = settings
			}
		}
	})
	card, err := o.handset.AddSIM(smsActive, handset.SIMConfig{PINTries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Enrol(smsActive, card.PublicKey, card.OTAKey); err != nil {
		t.Fatal(err)
	}
	admin := &client.Admin{Base: o.node.AdminURL(), Token: testAdminToken}
	var sim map[string]any
	if err := admin.Do(context.Background(), "PUT", "/v1/subscribers/"+smsActive+"/sim-applet",
		map[string]any{"public_key": card.PublicKey, "capabilities": []string{"ok", "pin"}}, &sim); err != nil {
		t.Fatalf("enrolling the SIM: %v", err)
	}
	return &simNode{operatorNode: o, mssp: srv}
}

func (o *simNode) authorizeACR(acr, state string) string {
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "acr_values": {acr}, "state": {state}, "nonce": {"n-" + state},
		"binding_message": {"Order for the corner"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
	return o.node.PublicURL() + "/authorize?" + q.Encode()
}

// prompt waits for the SIM's prompt.
func (o *simNode) prompt() handset.SIMPrompt {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := o.handset.WaitForSIMPrompt(ctx, smsActive)
	if err != nil {
		o.t.Fatalf("no prompt on the SIM: %v", err)
	}
	if p.SPName != "Corner Shop" || p.Message != "Order for the corner" {
		o.t.Fatalf("the SIM's prompt does not show the SP and the binding message: %+v", p)
	}
	return p
}

// idToken exchanges the code and verifies the ID token with the
// gateway's JWKS, returning its acr and amr.
func (o *simNode) idToken(code string) (string, []string) {
	o.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}
	req, _ := http.NewRequest("POST", o.node.PublicURL()+"/token", strings.NewReader(f.Encode()))
	req.SetBasicAuth("shop", o.tokenSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	getJSON(o.t, http.DefaultClient, req, 200, &tok)
	resp, err := http.Get(o.node.PublicURL() + "/jwks")
	if err != nil {
		o.t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	payload, _, err := jose.VerifyJWKS(tok.IDToken, jwks, jose.RS256)
	if err != nil {
		o.t.Fatalf("the ID token does not verify: %v", err)
	}
	var claims struct {
		ACR string
		AMR []string
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		o.t.Fatal(err)
	}
	return claims.ACR, claims.AMR
}

// deniedFrom: the redirect to the SP carries access_denied.
func (o *simNode) deniedFrom(resp *http.Response) string {
	o.t.Helper()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "access_denied" {
		o.t.Fatalf("want access_denied, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("error_description")
}

// TestSIMPINLoginAtLoA3 is a login at LoA 3 through the SIM applet: the
// gateway asks the MSSP, the SIM shows the SP and the binding message and
// asks for its PIN, the person enters it; the SDK's re-poll gets the code,
// and the verified ID token says acr 3, amr SIM_PIN. The node's metadata
// offers level 3 and the SIM's amr values.
func TestSIMPINLoginAtLoA3(t *testing.T) {
	o := startSIMNode(t, "")
	var meta struct {
		ACR []string `json:"acr_values_supported"`
		AMR []string `json:"mc_amr_values_supported"`
	}
	resp, err := http.Get(o.node.PublicURL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if strings.Join(meta.ACR, " ") != "2 3" || !slices.Contains(meta.AMR, "SIM_PIN") || !slices.Contains(meta.AMR, "SIM_OK") {
		t.Fatalf("metadata: %+v", meta)
	}

	authURL := o.authorizeACR("3", "loa3")
	if resp := o.get(authURL); resp.StatusCode != 200 {
		t.Fatalf("the SIM is out of band: the waiting page, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if p := o.prompt(); !p.PIN {
		t.Fatalf("LoA 3 asks for the PIN: %+v", p)
	}
	if resp := o.get(authURL); resp.StatusCode != 200 {
		t.Fatalf("before the answer the re-poll waits: %d", resp.StatusCode)
	}
	if res, err := o.handset.AnswerSIM(smsActive, handset.SIMAnswerPIN, "1234"); err != nil || res.Status != "signed" {
		t.Fatalf("the PIN: %+v %v", res, err)
	}
	acr, amr := o.idToken(o.codeFrom(o.get(authURL), "loa3"))
	if acr != "3" || strings.Join(amr, ",") != "SIM_PIN" {
		t.Fatalf("ID token acr %q amr %v, want 3 and SIM_PIN", acr, amr)
	}
}

// TestSIMClickOKLoginAtLoA2: at LoA 2 the SIM asks only OK (the operator
// put the SIM first), and the ID token says acr 2, amr SIM_OK.
func TestSIMClickOKLoginAtLoA2(t *testing.T) {
	o := startSIMNode(t, "")
	authURL := o.authorizeACR("2", "loa2")
	if resp := o.get(authURL); resp.StatusCode != 200 {
		t.Fatalf("the waiting page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if p := o.prompt(); p.PIN {
		t.Fatalf("LoA 2 asks OK, not the PIN: %+v", p)
	}
	if _, err := o.handset.AnswerSIM(smsActive, handset.SIMAnswerOK, ""); err != nil {
		t.Fatal(err)
	}
	acr, amr := o.idToken(o.codeFrom(o.get(authURL), "loa2"))
	if acr != "2" || strings.Join(amr, ",") != "SIM_OK" {
		t.Fatalf("ID token acr %q amr %v, want 2 and SIM_OK", acr, amr)
	}
}

// TestSIMWrongPINPastTheLimit: three wrong PINs block the SIM's PIN
// (PIN_NR_BLOCKED): that login is refused (nothing else reaches LoA 3),
// the next at LoA 3 is refused at once, saying which level could not be
// met, and one asking "3, else 2" falls back to the SIM's click-OK.
func TestSIMWrongPINPastTheLimit(t *testing.T) {
	o := startSIMNode(t, "")
	authURL := o.authorizeACR("3", "pin")
	o.get(authURL)
	o.prompt()
	for i := 0; i < 3; i++ {
		if _, err := o.handset.AnswerSIM(smsActive, handset.SIMAnswerPIN, "9999"); err != nil {
			t.Fatal(err)
		}
	}
	if desc := o.deniedFrom(o.get(authURL)); !strings.Contains(desc, "PIN is blocked") {
		t.Fatalf("the blocked login's description: %q", desc)
	}
	if desc := o.deniedFrom(o.get(o.authorizeACR("3", "again"))); !strings.Contains(desc, "level of assurance") {
		t.Fatalf("LoA 3 after the block: %q", desc)
	}
	fallback := o.authorizeACR("3 2", "fallback")
	if resp := o.get(fallback); resp.StatusCode != 200 {
		t.Fatalf("3-else-2 after the block: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if p := o.prompt(); p.PIN {
		t.Fatalf("the fallback asks the blocked PIN: %+v", p)
	}
	o.handset.AnswerSIM(smsActive, handset.SIMAnswerOK, "")
	if acr, amr := o.idToken(o.codeFrom(o.get(fallback), "fallback")); acr != "2" || strings.Join(amr, ",") != "SIM_OK" {
		t.Fatalf("the fallback's ID token: acr %q amr %v", acr, amr)
	}
}

// TestSIMMSSPDownFallsBack: an MSSP that accepts connections and never
// answers costs the SIM applet its client timeout (500 ms here) once, the
// other SIM level fails at once, then routing falls back to SMS; at LoA 3, with nothing else, the SP is told
// temporarily_unavailable.
func TestSIMMSSPDownFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	o := startSIMNode(t, "http://"+ln.Addr().String()+"/rest/service")
	begin := time.Now()
	resp := o.get(o.authorizeACR("2", "down"))
	took := time.Since(begin)
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.Contains(loc, "/sms/otp") || took > 3*time.Second {
		t.Fatalf("MSSP down: %d %q after %v, want the SMS code page within 3 s", resp.StatusCode, loc, took)
	}
	t.Logf("with the MSSP silent, the SMS code page after %v", took)
	if m := o.sms(smsActive); !strings.Contains(m.Text, "Corner Shop") {
		t.Fatalf("the fallback SMS: %q", m.Text)
	}
	resp = o.get(o.authorizeACR("3", "down3"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != 302 || loc.Query().Get("error") != "temporarily_unavailable" {
		t.Fatalf("LoA 3 with the MSSP down: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
