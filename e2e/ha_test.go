package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mcfed/mcfed/internal/pgtest"
)

// roundRobin is the load balancer in front of an operator's gateway nodes:
// each request goes to the next node, or, when that node refuses the
// connection (it is down), to the one after. Nothing sticks a browser or
// an SDK to a node.
type roundRobin struct {
	backends []string // host:port
	next     atomic.Uint64
	tr       http.RoundTripper
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	start := p.next.Add(1)
	for i := range uint64(len(p.backends)) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", p.backends[(start+i)%uint64(len(p.backends))]
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := p.tr.RoundTrip(out)
		if err != nil {
			continue // down: the next one
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no gateway node answers", http.StatusBadGateway)
}

// startBalancer serves a roundRobin on a port of its own until the test
// ends and returns its URL; the backends are set once the nodes exist.
func startBalancer(t *testing.T) (string, *roundRobin) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rr := &roundRobin{tr: &http.Transport{}}
	srv := &http.Server{Handler: rr}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), rr
}

// TestOperatorRunsTwoGatewayNodes (issue 17): an operator runs two
// gateway nodes (separate processes, each a member of the federation) on
// one PostgreSQL store, behind a round-robin balancer, with one issuer.
// A login begins on the first; the first is SIGKILLed once the SMS is
// sent; the code typed is taken by the second, which issues the tokens and
// serves userinfo and the refresh. Both restarted, the refresh token still
// works. The SMS send limit holds across both nodes.
func TestOperatorRunsTwoGatewayNodes(t *testing.T) {
	db := pgtest.Database(t)
	f := newFederation(t)
	f.addNode(deDemo) // the federation's first member, another operator's
	lb, rr := startBalancer(t)
	kek := filepath.Join(f.dir, "uk-kek")
	if err := os.WriteFile(kek, []byte(randomHex(16)), 0o600); err != nil {
		t.Fatal(err)
	}
	more := []string{"--public-url", lb, "--store", db, "--kek-file", kek}
	a := f.addNodeAs("node-uk-a", ukDemo, lb, more)
	b := f.addNodeAs("node-uk-b", ukDemo, lb, more)
	rr.backends = []string{a.publicAddr, b.publicAddr}
	f.waitResolves(ukDemo.Number, ukDemo.ID)
	a.provision()
	s := f.registerSP()

	ctx := context.Background()
	d := s.mustDiscover(t, f.nodes[0], ukDemo)
	if d.link("issuer") != lb {
		t.Fatalf("discovery names the issuer %q, not the balancer %q", d.link("issuer"), lb)
	}
	provider, err := oidc.NewProvider(ctx, lb)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: d.Response.ClientID, ClientSecret: d.Response.ClientSecret,
		Endpoint: provider.Endpoint(), RedirectURL: spRedirect, Scopes: []string{oidc.ScopeOpenID, "mc_authn", "profile", "email"}}
	authURL := conf.AuthCodeURL("st-ha", oidc.Nonce("n-ha"),
		oauth2.SetAuthURLParam("login_hint", "ENCR_MSISDN:"+d.SubscriberID),
		oauth2.SetAuthURLParam("acr_values", "2"), oauth2.SetAuthURLParam("version", "mc_di_r2_v2.3"))

	// The authorization request reaches a (the balancer's next pick is
	// not the test's to choose: it goes to a's address).
	onA := strings.Replace(authURL, strings.TrimPrefix(lb, "http://"), a.publicAddr, 1)
	sdk := sdkClient()
	resp := get(t, sdk, onA)
	page, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || page == nil || !strings.HasSuffix(page.Path, "/sms/otp") {
		t.Fatalf("authorize on a: %d %q, want the SMS code page", resp.StatusCode, resp.Header.Get("Location"))
	}
	msg := f.phone.waitSMS(t, ukDemo.Number, 0)
	a.proc.kill()

	code := smsCode.FindString(msg.Text)
	r, err := noRedirect.PostForm(page.Query().Get("return"), url.Values{"otp": {code}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	back, _ := url.Parse(r.Header.Get("Location"))
	if back == nil || back.Query().Get("code") == "" {
		t.Fatalf("the code typed, with a down: %d %q, want the redirect with a code", r.StatusCode, r.Header.Get("Location"))
	}
	tok, err := conf.Exchange(ctx, back.Query().Get("code"))
	if err != nil {
		t.Fatalf("the code exchanged at b: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw); err != nil {
		t.Fatalf("the ID token b signed: %v", err)
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo at b: %v", err)
	}
	refresh := func(what string) {
		t.Helper()
		src := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
		next, err := src.Token()
		if err != nil {
			t.Fatalf("refresh %s: %v", what, err)
		}
		tok = next
	}
	refresh("at b, a down")

	// Both restarted: the refresh token of before still works.
	a.restart()
	b.proc.kill()
	b.restart()
	refresh("after both restarted")
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo after both restarted: %v", err)
	}

	// The send limit (5 per 15 minutes) holds across the nodes: one SMS
	// went out above; eight more logins, alternating, send four.
	for i := range 8 {
		n := []*node{a, b}[i%2]
		u := conf.AuthCodeURL(fmt.Sprintf("st-limit-%d", i), oidc.Nonce(fmt.Sprintf("n-limit-%d", i)),
			oauth2.SetAuthURLParam("login_hint", "ENCR_MSISDN:"+d.SubscriberID),
			oauth2.SetAuthURLParam("acr_values", "2"), oauth2.SetAuthURLParam("version", "mc_di_r2_v2.3"))
		u = strings.Replace(u, strings.TrimPrefix(lb, "http://"), n.publicAddr, 1)
		if resp := get(t, sdkClient(), u); resp.StatusCode != 302 {
			t.Fatalf("login %d on %s: %d", i, n.id, resp.StatusCode)
		}
	}
	if err := poll(replicaTimeout, func() (bool, error) {
		msgs, err := f.phone.inbox(ukDemo.Number)
		return len(msgs) >= 5, err
	}); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := f.phone.inbox(ukDemo.Number); len(msgs) != 5 {
		t.Fatalf("%d SMS reached the subscriber across both nodes; the limit is 5", len(msgs))
	}
}
