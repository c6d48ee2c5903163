package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/client"
)

// loginDriver does logins as the dev federation's SPs and their users.
type loginDriver struct {
	info   *client.DevInfo
	client *http.Client
	// idTokenAlg is the algorithm the SPs registered for their ID tokens
	// ("" : the default, RS256): a token signed otherwise fails the login.
	idTokenAlg string
	requests   atomic.Int64
}

// otpInSMS finds the code in the SMS authenticator's text ("Your code to
// sign in to <SP>: 123456").
var otpInSMS = regexp.MustCompile(`sign in to .*: (\d{4,10})\b`)

// loginScope is what the logins ask for: authentication and the profile
// userinfo releases.
const loginScope = "openid mc_authn profile"

// loginFlow is one login in progress: what each phase hands the next.
type loginFlow struct {
	sp        *client.DevSPInfo
	sub       *loadSubscriber
	disc      client.DiscoveryAnswer
	links     map[string]string
	state     string
	verifier  string
	returnURL string // the gateway's code page, where the code is typed
	otp       string // the code the SMS carried
	code      string // the authorization code
	access    string // the access token
}

// login is one full login of subscriber s, timing each phase into lat:
// discovery on a random node, /authorize at the serving operator (and its
// code page, as a browser loads it), the SMS read from the handset's API,
// the code typed on the page, the token exchange with PKCE, userinfo.
func (d *loginDriver) login(ctx context.Context, rng *rand.Rand, sp *client.DevSPInfo, s *loadSubscriber, lat *[nPhases]time.Duration) error {
	f := &loginFlow{sp: sp, sub: s}
	for ph := range nPhases {
		t0 := time.Now()
		kind := d.step(ctx, rng, ph, f)
		lat[ph] = time.Since(t0)
		if kind != "" {
			return &loginError{phase: ph, kind: kind}
		}
	}
	return nil
}

// step runs phase ph of a login; a non-empty kind says why it failed.
func (d *loginDriver) step(ctx context.Context, rng *rand.Rand, ph int, f *loginFlow) string {
	switch ph {
	case phDiscovery:
		return d.discover(ctx, rng, f)
	case phAuthorize:
		return d.authorize(ctx, rng, f)
	case phSMS:
		code, msgID, kind := d.awaitSMS(ctx, f.sub)
		if kind != "" {
			return kind
		}
		f.otp = code
		f.sub.uses++
		f.sub.lastSMS = msgID
		return ""
	case phOTP:
		return d.typeCode(ctx, f)
	case phToken:
		return d.token(ctx, f)
	case phUserinfo:
		return d.userinfo(ctx, f)
	}
	return fmt.Sprintf("no phase %d", ph)
}

// discover asks a random node, as the GSMA Java SDK posts it.
func (d *loginDriver) discover(ctx context.Context, rng *rand.Rand, f *loginFlow) string {
	node := d.info.Nodes[rng.IntN(len(d.info.Nodes))]
	form := url.Values{"Redirect_URL": {f.sp.RedirectURI}, "Using-Mobile-Data": {"0"}, "MSISDN": {strings.TrimPrefix(f.sub.msisdn, "+")}}
	req, _ := http.NewRequestWithContext(ctx, "POST", node.DiscoveryURL, strings.NewReader(form.Encode()))
	req.SetBasicAuth(f.sp.ClientID, f.sp.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if kind := d.json(req, &f.disc); kind != "" {
		return kind
	}
	if f.disc.Error != "" || f.disc.SubscriberID == "" {
		return "no operator: " + f.disc.Error
	}
	f.links = f.disc.Links()
	return ""
}

// authorize sends /authorize with state, nonce and PKCE S256, then loads
// the code page it redirects to, as a browser does.
func (d *loginDriver) authorize(ctx context.Context, rng *rand.Rand, f *loginFlow) string {
	f.state, f.verifier = randomString(rng), randomString(rng)
	challenge := sha256.Sum256([]byte(f.verifier))
	q := url.Values{"client_id": {f.disc.Response.ClientID}, "redirect_uri": {f.sp.RedirectURI}, "response_type": {"code"},
		"scope": {loginScope}, "acr_values": {"2"}, "state": {f.state}, "nonce": {randomString(rng)}, "version": {"mc_di_r2_v2.3"},
		"login_hint":     {"ENCR_MSISDN:" + f.disc.SubscriberID},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequestWithContext(ctx, "GET", f.links["authorization"]+"?"+q.Encode(), nil)
	a, kind := d.do(req)
	if kind != "" {
		return kind
	}
	page := a.location()
	if a.status != http.StatusFound || page == nil || !strings.HasSuffix(page.Path, "/sms/otp") {
		return a.unexpected()
	}
	f.returnURL = page.Query().Get("return")
	req, _ = http.NewRequestWithContext(ctx, "GET", page.String(), nil)
	if a, kind = d.do(req); kind != "" {
		return "code page: " + kind
	} else if a.status != http.StatusOK {
		return "code page: " + a.unexpected()
	}
	return ""
}

// typeCode posts the code on the gateway's page, which redirects to the SP
// with the authorization code.
func (d *loginDriver) typeCode(ctx context.Context, f *loginFlow) string {
	req, _ := http.NewRequestWithContext(ctx, "POST", f.returnURL, strings.NewReader(url.Values{"otp": {f.otp}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a, kind := d.do(req)
	if kind != "" {
		return kind
	}
	back := a.location()
	if a.status != http.StatusFound || back == nil || back.Query().Get("code") == "" || back.Query().Get("state") != f.state {
		return a.unexpected()
	}
	f.code = back.Query().Get("code")
	return ""
}

// token exchanges the code, with the credentials discovery handed out.
func (d *loginDriver) token(ctx context.Context, f *loginFlow) string {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {f.code}, "redirect_uri": {f.sp.RedirectURI},
		"code_verifier": {f.verifier}}
	req, _ := http.NewRequestWithContext(ctx, "POST", f.links["token"], strings.NewReader(form.Encode()))
	req.SetBasicAuth(f.disc.Response.ClientID, f.disc.Response.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok tokenAnswer
	if kind := d.json(req, &tok); kind != "" {
		return kind
	}
	if kind := tok.check(d.idTokenAlg); kind != "" {
		return kind
	}
	f.access = tok.AccessToken
	return ""
}

func (d *loginDriver) userinfo(ctx context.Context, f *loginFlow) string {
	req, _ := http.NewRequestWithContext(ctx, "GET", f.links["userinfo"], nil)
	req.Header.Set("Authorization", "Bearer "+f.access)
	return userinfoNamesSub(d.client, &d.requests, req)
}

// userinfoNamesSub sends a userinfo request and checks that the answer
// names the user.
func userinfoNamesSub(c *http.Client, sent *atomic.Int64, req *http.Request) string {
	var info struct {
		Sub string `json:"sub"`
	}
	if kind := sendJSON(c, sent, req, &info); kind != "" {
		return kind
	}
	if info.Sub == "" {
		return "no sub"
	}
	return ""
}

// tokenAnswer is a token endpoint's answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
}

// check says what is wrong with the answer: a missing token, or an ID token
// not signed with alg ("" is RS256). The signature itself is not verified:
// the server, not the load generator, is under test.
func (t tokenAnswer) check(alg string) string {
	if t.AccessToken == "" || t.IDToken == "" {
		return "no access or ID token"
	}
	if alg == "" {
		alg = "RS256"
	}
	head, _, _ := strings.Cut(t.IDToken, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ Alg string }
	if err != nil || json.Unmarshal(b, &h) != nil {
		return "ID token header unreadable"
	}
	if h.Alg != alg {
		return "ID token signed with " + h.Alg + ", not " + alg
	}
	return ""
}
