package federation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/registry"
)

// scrape reads node's /metrics as Prometheus does, with the admin token.
func scrape(t *testing.T, n *Node) string {
	t.Helper()
	req, _ := http.NewRequest("GET", n.AdminURL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sample is the value of one series (name and labels exactly as the text
// format prints them, labels sorted by name) in a scrape.
func sample(body, series string) (float64, bool) {
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func mustSample(t *testing.T, body, series string) float64 {
	t.Helper()
	v, ok := sample(body, series)
	if !ok {
		t.Fatalf("no series %s in\n%s", series, body)
	}
	return v
}

// TestRaftMetricsOnEveryNode scrapes a real three-node federation: every
// node is in one state and counts three voters, exactly one node says it
// leads (the three scrapes agreeing on the term, so no election ran between
// them), and a write moves every node's applied index.
func TestRaftMetricsOnEveryNode(t *testing.T) {
	f := startFed(t, 3)
	applied := make([]float64, 3)
	f.waitFor("the nodes to agree on one leader", func() bool {
		leaders, terms := 0.0, map[float64]bool{}
		for i, n := range f.nodes {
			body := scrape(t, n)
			states := 0.0
			for _, s := range []string{"leader", "follower", "candidate", "shutdown"} {
				states += mustSample(t, body, `mcfed_raft_state{state="`+s+`"}`)
			}
			if states != 1 {
				t.Fatalf("node %d is in %v states at once", i, states)
			}
			if v := mustSample(t, body, "mcfed_raft_voters"); v != 3 {
				t.Fatalf("node %d counts %v voters, want 3", i, v)
			}
			applied[i] = mustSample(t, body, "mcfed_raft_applied_index")
			if commit := mustSample(t, body, "mcfed_raft_commit_index"); commit < applied[i] {
				t.Fatalf("node %d applied %v beyond its commit index %v", i, applied[i], commit)
			}
			leaders += mustSample(t, body, `mcfed_raft_state{state="leader"}`)
			terms[mustSample(t, body, "mcfed_raft_term")] = true
		}
		return leaders == 1 && len(terms) == 1
	})

	f.do(f.follower(), "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	for i, n := range f.nodes {
		f.waitFor(fmt.Sprintf("node %d's applied index to pass %v", i, applied[i]), func() bool {
			return mustSample(t, scrape(t, n), "mcfed_raft_applied_index") > applied[i]
		})
	}
}

// TestGatewayAndDiscoveryAreCounted runs discovery and a full SMS login on
// an operator's node, then a token request with a used code and userinfo
// with a bad token: each shows on /metrics under its route and outcome.
func TestGatewayAndDiscoveryAreCounted(t *testing.T) {
	o := startOperatorNode(t, "url")
	public := o.node.PublicURL()

	form := url.Values{"MSISDN": {strings.TrimPrefix(smsActive, "+")}, "Redirect_URL": {smsRedirect}}
	req, _ := http.NewRequest("POST", public+"/v2/discovery", strings.NewReader(form.Encode()))
	req.SetBasicAuth("shop", o.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var disc map[string]any
	getJSON(t, http.DefaultClient, req, 200, &disc)

	authURL := o.authorizeURL(smsActive, "counted")
	o.get(authURL)
	o.tap(smsActive, o.sms(smsActive))
	code := o.codeFrom(o.get(authURL), "counted")
	access := o.token(code)
	o.claims("/userinfo", access)

	// The code again: refused, as codes are single use.
	tf := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}
	req, _ = http.NewRequest("POST", public+"/token", strings.NewReader(tf.Encode()))
	req.SetBasicAuth("shop", o.tokenSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var refused map[string]any
	getJSON(t, http.DefaultClient, req, 400, &refused)
	req, _ = http.NewRequest("GET", public+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	body := scrape(t, o.node)
	found := 0.0
	for _, outcome := range []string{"found", "found_unsealed"} {
		v, _ := sample(body, `mcfed_discovery_request_duration_seconds_count{outcome="`+outcome+`"}`)
		found += v
	}
	if found != 1 {
		t.Fatalf("discovery answers counted: %v, want 1\n%s", found, body)
	}
	for series, want := range map[string]float64{
		`mcfed_http_requests_total{listener="public",method="POST",route="/v2/discovery",status="200"}`:                   1,
		`mcfed_oidc_responses_total{endpoint="token",error="",grant_type="authorization_code",status="200"}`:              1,
		`mcfed_oidc_responses_total{endpoint="token",error="invalid_grant",grant_type="authorization_code",status="400"}`: 1,
		`mcfed_oidc_responses_total{endpoint="userinfo",error="",grant_type="",status="200"}`:                             1,
		`mcfed_oidc_responses_total{endpoint="userinfo",error="invalid_token",grant_type="",status="401"}`:                1,
		`mcfed_oidc_responses_total{endpoint="authorize",error="",grant_type="",status="302"}`:                            1,
	} {
		if got := mustSample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// otpAuthenticator is a whole, if tiny, authenticator: it is unavailable
// for a challenge without a number, and an answer decides the outcome.
type otpAuthenticator struct{}

func (otpAuthenticator) Start(_ context.Context, ch idgw.Challenge) (idgw.Started, error) {
	if ch.MSISDN == 0 {
		return idgw.Started{}, idgw.ErrUnavailable
	}
	return idgw.Started{State: []byte("123456")}, nil
}

func (otpAuthenticator) Check(_ context.Context, state []byte, answer url.Values) (idgw.Outcome, error) {
	switch answer.Get("otp") {
	case "":
		return idgw.Outcome{Status: idgw.Pending, State: state}, nil
	case string(state):
		return idgw.Outcome{Status: idgw.Succeeded}, nil
	}
	return idgw.Outcome{Status: idgw.Failed, Reason: "wrong code"}, nil
}

// TestAuthenticatorsAreCounted drives a wrapped authenticator as the
// gateway does: the answers pass through unchanged, and each start and
// check shows on the node's /metrics by authenticator and result.
func TestAuthenticatorsAreCounted(t *testing.T) {
	n := startFed(t, 1).nodes[0]
	regs := observeAuthenticators([]idgw.Registration{{Info: idgw.AuthenticatorInfo{Name: "sms-otp", LoA: 2}, Impl: otpAuthenticator{}}}, n.metrics)
	a, ctx := regs[0].Impl, context.Background()
	if _, err := a.Start(ctx, idgw.Challenge{}); !errors.Is(err, idgw.ErrUnavailable) {
		t.Fatalf("Start without a number: %v, want ErrUnavailable passed through", err)
	}
	st, err := a.Start(ctx, idgw.Challenge{MSISDN: 447400111222})
	if err != nil {
		t.Fatal(err)
	}
	for _, answer := range []string{"", "000000", "123456"} {
		a.Check(ctx, st.State, url.Values{"otp": {answer}})
	}
	if out, _ := a.Check(ctx, st.State, url.Values{"otp": {"123456"}}); out.Status != idgw.Succeeded {
		t.Fatalf("the wrapped authenticator's outcome changed: %+v", out)
	}
	body := scrape(t, n)
	for series, want := range map[string]float64{
		`mcfed_authenticator_starts_total{authenticator="sms-otp",result="started"}`:     1,
		`mcfed_authenticator_starts_total{authenticator="sms-otp",result="unavailable"}`: 1,
		`mcfed_authenticator_starts_total{authenticator="sms-otp",result="error"}`:       0,
		`mcfed_authenticator_checks_total{authenticator="sms-otp",outcome="pending"}`:    1,
		`mcfed_authenticator_checks_total{authenticator="sms-otp",outcome="failed"}`:     1,
		`mcfed_authenticator_checks_total{authenticator="sms-otp",outcome="succeeded"}`:  2,
		`mcfed_authenticator_checks_total{authenticator="sms-otp",outcome="error"}`:      0,
	} {
		if got := mustSample(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// syncBuffer collects log output written by the node's handlers while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// requestLine finds the request log line with id.
func (s *syncBuffer) requestLine(t *testing.T, id string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "request" && line["request_id"] == id {
			return line
		}
	}
	t.Fatalf("no request line with id %q in\n%s", id, s.String())
	return nil
}

// TestRequestsAreLoggedWithTheirIDs serves discovery with an MSISDN on a
// node logging JSON: each answer echoes its request id, a sane incoming id
// is kept and an unsafe one replaced, and the request's log line has its
// id, route and correlation_id but neither the number, the SP's secret nor
// the admin token. At info, a public request that succeeded is not logged
// (it is at debug); one that failed is, and so are the admin listener's.
func TestRequestsAreLoggedWithTheirIDs(t *testing.T) {
	var logs syncBuffer
	logger, err := NewLogger(&logs, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testNodeConfig(t, "logged", t.TempDir())
	cfg.Bootstrap, cfg.PublicAddr, cfg.Logger = true, "127.0.0.1:0", logger
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	admin, ctx := &client.Admin{Base: n.AdminURL(), Token: testAdminToken}, context.Background()
	var sp spResponse
	for _, w := range []struct {
		path      string
		body, out any
	}{
		{"/v1/operators/red", demoOperator("red", "234_10"), nil},
		{"/v1/ranges/+447400", operatorRef{Operator: "red"}, nil},
		{"/v1/scopes/openid", registry.Scope{Name: "openid"}, nil},
		{"/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{smsRedirect}, "scopes": []string{"openid"}}, &sp},
	} {
		if err := client.Retry(ctx, func() error { return admin.Do(ctx, "PUT", w.path, w.body, w.out) }); err != nil {
			t.Fatalf("PUT %s: %v", w.path, err)
		}
	}

	msisdn := "447400111222"
	discover := func(requestID, secret string) *http.Response {
		t.Helper()
		form := url.Values{"MSISDN": {msisdn}, "Redirect_URL": {smsRedirect}, "correlation_id": {"corr-7f3a"}}
		req, _ := http.NewRequest("POST", n.PublicURL()+"/v2/discovery", strings.NewReader(form.Encode()))
		req.SetBasicAuth("shop", secret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if requestID != "" {
			req.Header.Set(headerRequestID, requestID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// A discovery that succeeded: answered with its id, and not logged.
	resp := discover("sp-trace.ok", sp.ClientSecret)
	if resp.StatusCode != 200 || resp.Header.Get(headerRequestID) != "sp-trace.ok" {
		t.Fatalf("discovery: %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get(headerRequestID))
	}

	// One the SP's credential failed: logged, with its id.
	resp = discover("sp-trace.42:7", "not-the-secret")
	kept := resp.Header.Get(headerRequestID)
	if resp.StatusCode != 401 || kept != "sp-trace.42:7" {
		t.Fatalf("a refused discovery: %d, its sane X-Request-ID came back as %q", resp.StatusCode, kept)
	}
	line := logs.requestLine(t, kept)
	if line["route"] != "/v2/discovery" || line["method"] != "POST" || line["status"] != 401.0 ||
		line["correlation_id"] != "corr-7f3a" || line["listener"] != "public" || line["level"] != "INFO" {
		t.Fatalf("discovery log line: %v", line)
	}

	generated := map[string]bool{}
	for _, unsafe := range []string{"", `id "with" quotes`, strings.Repeat("a", 65)} {
		id := discover(unsafe, "not-the-secret").Header.Get(headerRequestID)
		if id == "" || id == unsafe || saneID(id, 64) != id || generated[id] {
			t.Fatalf("X-Request-ID %q answered with %q, want a fresh safe id", unsafe, id)
		}
		generated[id] = true
		logs.requestLine(t, id)
	}

	// A path no route takes is logged and counted by no path at all.
	resp, err = http.Get(n.PublicURL() + "/nothing/here/" + msisdn)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if line := logs.requestLine(t, resp.Header.Get(headerRequestID)); line["route"] != "unmatched" || line["status"] != 404.0 || line["level"] != "INFO" {
		t.Fatalf("unmatched request's log line: %v", line)
	}
	if v := mustSample(t, scrape(t, n), `mcfed_http_requests_total{listener="public",method="GET",route="unmatched",status="404"}`); v != 1 {
		t.Fatalf("unmatched requests counted: %v", v)
	}

	// The admin listener logs its requests too.
	if err := admin.Do(ctx, "GET", "/v1/cluster/status", nil, &map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// A request refused before it reached its route (no credential) is
	// logged and counted under the route it was for, not the group's
	// prefix.
	req, _ := http.NewRequest("PUT", n.AdminURL()+"/v1/ranges/%2B447400", strings.NewReader(`{}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if line := logs.requestLine(t, resp.Header.Get(headerRequestID)); line["route"] != "/v1/ranges/:prefix" || line["status"] != 401.0 {
		t.Fatalf("a refused request's log line: %v", line)
	}
	out := logs.String()
	if strings.Contains(out, `"request_id":"sp-trace.ok"`) {
		t.Fatalf("a discovery that succeeded is logged at info:\n%s", out)
	}
	if !strings.Contains(out, `"level":"INFO","msg":"request","node":"logged","listener":"admin","method":"GET","route":"/v1/cluster/status","status":200`) {
		t.Fatalf("no admin request line in\n%s", out)
	}
	for _, secret := range []string{msisdn, msisdn[2:], sp.ClientSecret, testAdminToken, "Basic ", "Bearer "} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}

// TestHandlersLogWithTheRequestID: a line logged with a request's context
// carries its id, whatever the handler that logs it.
func TestHandlersLogWithTheRequestID(t *testing.T) {
	var out bytes.Buffer
	logger, err := NewLogger(&out, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	logger.With("node", "n1").DebugContext(requestid.With(context.Background(), "req-1"), "authenticator started")
	logger.Info("outside any request")
	if got := out.String(); !strings.Contains(got, "node=n1 request_id=req-1") || strings.Count(got, "request_id") != 1 {
		t.Fatalf("log:\n%s", got)
	}
	for _, bad := range [][2]string{{"xml", "info"}, {"json", "loud"}} {
		if _, err := NewLogger(io.Discard, bad[0], bad[1]); err == nil {
			t.Fatalf("NewLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestForwardedWritesKeepTheRequestID: a write sent to a follower is
// logged by the leader, which applies it, under the caller's request id,
// so one id follows a write across nodes.
func TestForwardedWritesKeepTheRequestID(t *testing.T) {
	var logs syncBuffer
	logger, err := NewLogger(&logs, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	f := &testFed{t: t}
	leaderCfg := testNodeConfig(t, "n1", t.TempDir())
	leaderCfg.Bootstrap, leaderCfg.Logger = true, logger
	leader, err := Start(context.Background(), leaderCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leader.Close() })
	f.nodes = append(f.nodes, leader)
	cfg := testNodeConfig(t, "n2", t.TempDir())
	cfg.Join, cfg.JoinToken = leader.AdminURL(), f.joinToken(0, "n2", "")
	follower, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follower.Close() })
	// The follower joined without an operator: its own admin token has no
	// role; the federation admin writes through it.
	token := f.issue(0, registry.RoleFederationAdmin, "")
	id, _ := registry.ParseIssuedToken(token)
	f.waitFor("the follower to know the leader's record and the credential", func() bool {
		reg := follower.Raft().Registry()
		return reg.Node("n1") != nil && reg.Credential(id) != nil && !follower.Raft().IsLeader()
	})

	req, _ := http.NewRequest("PUT", follower.AdminURL()+"/v1/scopes/openid", strings.NewReader(`{"name":"openid"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerRequestID, "write-7f3a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT through the follower: %d", resp.StatusCode)
	}
	line := logs.requestLine(t, "write-7f3a")
	if line["route"] != "/v1/internal/apply" {
		t.Fatalf("the leader logged the forwarded write as %v", line)
	}
}

// TestMatchTemplateAsSplitting: matchTemplate, which cuts segments as it
// goes, answers as matching the two split paths segment by segment did.
func TestMatchTemplateAsSplitting(t *testing.T) {
	split := func(tmpl, path string) bool {
		ts := strings.Split(strings.Trim(tmpl, "/"), "/")
		ps := strings.Split(strings.Trim(path, "/"), "/")
		for i, t := range ts {
			if t == "*" || t == "+" {
				return t == "*" || i < len(ps) && ps[i] != ""
			}
			if i >= len(ps) {
				return strings.HasPrefix(t, ":") && strings.HasSuffix(t, "?") && i == len(ts)-1
			}
			switch {
			case strings.HasPrefix(t, ":"):
				if ps[i] == "" && !strings.HasSuffix(t, "?") {
					return false
				}
			case !strings.EqualFold(t, ps[i]):
				return false
			}
		}
		return len(ps) == len(ts)
	}
	tmpls := []string{"/", "/healthz", "/v2/discovery", "/v1/ranges/:prefix", "/v1/sp/:id/keys/:kid?", "/debug/pprof/*",
		"/v1/x/+", "/:a?", "/a/:b/c", "*", "+", "/A/B"}
	paths := []string{"", "/", "/healthz", "/HEALTHZ/", "/v2/discovery", "/v2/discovery/x", "/v1/ranges/%2B44", "/v1/ranges/",
		"/v1/ranges", "/v1/sp/s1/keys", "/v1/sp/s1/keys/k", "/v1/sp/s1/keys/k/z", "/debug/pprof/", "/debug/pprof/heap",
		"/v1/x", "/v1/x/", "/v1/x/y/z", "/a//c", "/a/b/c", "/a/b/c/", "//", "/a/b", "x"}
	for _, tm := range tmpls {
		for _, p := range paths {
			if got, want := matchTemplate(tm, p), split(tm, p); got != want {
				t.Errorf("matchTemplate(%q, %q) = %v, want %v", tm, p, got, want)
			}
		}
	}
}
