package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oidc is the `oidc` subcommand: authorization code flows with PKCE against
// a general-purpose OpenID provider whose login approves at once
// (e2e/oidcbench runs node-oidc-provider so), the baseline mcfed's logins
// are compared with.
func oidc(args []string) error {
	fs := flag.NewFlagSet("oidc", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "the provider's issuer URL; its endpoints are read from /.well-known/openid-configuration")
	clientID := fs.String("client-id", "bench-rs256", "a confidential client registered at the provider (client_secret_basic)")
	secret := fs.String("client-secret", "oidcbench-client-secret-0123456789abcdef", "its secret")
	redirect := fs.String("redirect-uri", "http://127.0.0.1/callback", "its registered redirect URI")
	scope := fs.String("scope", "openid profile", "what the flows ask for")
	alg := fs.String("alg", "RS256", "the ID token algorithm the client registered: a token signed otherwise fails the flow")
	users := fs.Int("users", 16, "concurrent users, each doing one flow after another")
	duration := fs.Duration("duration", 20*time.Second, "how long the run lasts")
	maxFlows := fs.Int("flows", 0, "stop after this many flows (0: only the duration counts)")
	pid := fs.Int("server-pid", 0, "the provider's process, whose CPU time is read from /proc (0: not measured)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *issuer == "" {
		return errors.New("oidc needs --issuer")
	}
	server, err := newServerCPU(*pid)
	if err != nil {
		return err
	}
	cfg := oidcConfig{issuer: strings.TrimSuffix(*issuer, "/"), clientID: *clientID, secret: *secret, redirect: *redirect,
		scope: *scope, alg: *alg, users: *users, duration: *duration, maxFlows: *maxFlows, server: server}
	rep, err := runOIDC(context.Background(), cfg)
	if err != nil {
		return err
	}
	rep.print(os.Stdout)
	if rep.ok == 0 {
		return errors.New("no flow succeeded")
	}
	return nil
}

// oidcConfig is one run of flows.
type oidcConfig struct {
	issuer, clientID, secret, redirect, scope, alg string
	users                                          int
	duration                                       time.Duration
	maxFlows                                       int // 0: no limit
	server                                         *serverCPU
}

// The phases of a flow: authorize is /auth, the login interaction and the
// resumed /auth that redirects with the code.
const (
	opAuthorize = iota
	opToken
	opUserinfo
	nOIDCPhases
)

var oidcPhaseNames = [nOIDCPhases]string{"authorize", "token", "userinfo"}

// oidcReport is what a run of flows measured.
type oidcReport struct {
	users    int
	alg      string
	elapsed  time.Duration
	ok       int
	requests int64
	phases   [nOIDCPhases][]time.Duration
	total    []time.Duration
	errors   map[string]int
	cpu      *cpuSpan
}

// oidcDriver does flows as a client and its users.
type oidcDriver struct {
	cfg                        oidcConfig
	auth, token, userinfo      string // endpoints
	transport                  *http.Transport
	requests                   atomic.Int64
	redirectHost, redirectPath string
}

func runOIDC(ctx context.Context, cfg oidcConfig) (*oidcReport, error) {
	tr := &http.Transport{MaxIdleConns: 8 * cfg.users, MaxIdleConnsPerHost: 2 * cfg.users, IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	red, err := url.Parse(cfg.redirect)
	if err != nil {
		return nil, fmt.Errorf("--redirect-uri: %w", err)
	}
	d := &oidcDriver{cfg: cfg, transport: tr, redirectHost: red.Host, redirectPath: red.Path}
	var meta struct {
		Auth     string `json:"authorization_endpoint"`
		Token    string `json:"token_endpoint"`
		Userinfo string `json:"userinfo_endpoint"`
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", cfg.issuer+"/.well-known/openid-configuration", nil)
	if kind := sendJSON(&http.Client{Transport: tr, Timeout: 15 * time.Second}, &d.requests, req, &meta); kind != "" {
		return nil, fmt.Errorf("%s: provider metadata: %s", cfg.issuer, kind)
	}
	d.auth, d.token, d.userinfo = meta.Auth, meta.Token, meta.Userinfo
	d.requests.Store(0)

	rep := &oidcReport{users: cfg.users, alg: cfg.alg, errors: map[string]int{}}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		started atomic.Int64
		stop    atomic.Bool
	)
	var cpu0 time.Duration
	if cfg.server != nil {
		if cpu0, err = cfg.server.read(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	timer := time.AfterFunc(cfg.duration, func() { stop.Store(true) })
	defer timer.Stop()
	for u := range cfg.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(u), uint64(time.Now().UnixNano())))
			var ok int
			var total []time.Duration
			var phases [nOIDCPhases][]time.Duration
			errs := map[string]int{}
			for !stop.Load() && (cfg.maxFlows == 0 || started.Add(1) <= int64(cfg.maxFlows)) {
				var lat [nOIDCPhases]time.Duration
				t0 := time.Now()
				ph, kind := d.flow(ctx, rng, &lat)
				for i := range ph {
					phases[i] = append(phases[i], lat[i])
				}
				if kind != "" {
					errs[oidcPhaseNames[ph]+": "+kind]++
					continue
				}
				ok++
				total = append(total, time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			rep.ok += ok
			rep.total = append(rep.total, total...)
			for i := range phases {
				rep.phases[i] = append(rep.phases[i], phases[i]...)
			}
			for k, v := range errs {
				rep.errors[k] += v
			}
		}()
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	if cfg.server != nil {
		cpu1, err := cfg.server.read()
		if err != nil {
			return nil, err
		}
		rep.cpu = &cpuSpan{pid: int(cfg.server.proc.PID), cpu: cpu1 - cpu0, wall: rep.elapsed}
	}
	rep.requests = d.requests.Load()
	return rep, nil
}

// flow is one authorization code flow with PKCE S256, each phase timed into
// lat. It returns the phases completed and, when one failed, why. Each flow
// is a new user agent (its own cookies): a first login, as a Mobile Connect
// login is.
func (d *oidcDriver) flow(ctx context.Context, rng *rand.Rand, lat *[nOIDCPhases]time.Duration) (int, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: d.transport, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t0 := time.Now()
	state, verifier := randomString(rng), randomString(rng)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {d.cfg.clientID}, "redirect_uri": {d.cfg.redirect}, "response_type": {"code"},
		"scope": {d.cfg.scope}, "state": {state}, "nonce": {randomString(rng)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"}}
	next, err := url.Parse(d.auth + "?" + q.Encode())
	if err != nil {
		return opAuthorize, "authorization endpoint: " + err.Error()
	}
	var code string
	// /auth -> the login interaction -> /auth resumed -> the redirect URI.
	for hop := 0; code == ""; hop++ {
		if hop == 4 {
			return opAuthorize, "no code after 4 redirects"
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", next.String(), nil)
		a, kind := send(c, &d.requests, req)
		if kind != "" {
			return opAuthorize, kind
		}
		loc := a.location()
		if (a.status != http.StatusFound && a.status != http.StatusSeeOther) || loc == nil {
			return opAuthorize, a.unexpected()
		}
		next = next.ResolveReference(loc)
		if next.Host == d.redirectHost && next.Path == d.redirectPath {
			if next.Query().Get("state") != state || next.Query().Get("code") == "" {
				return opAuthorize, a.unexpected()
			}
			code = next.Query().Get("code")
		}
	}
	lat[opAuthorize] = time.Since(t0)

	t0 = time.Now()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {d.cfg.redirect},
		"code_verifier": {verifier}}
	req, _ := http.NewRequestWithContext(ctx, "POST", d.token, strings.NewReader(form.Encode()))
	req.SetBasicAuth(url.QueryEscape(d.cfg.clientID), url.QueryEscape(d.cfg.secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok tokenAnswer
	if kind := sendJSON(c, &d.requests, req, &tok); kind != "" {
		return opToken, kind
	}
	if kind := tok.check(d.cfg.alg); kind != "" {
		return opToken, kind
	}
	lat[opToken] = time.Since(t0)

	t0 = time.Now()
	req, _ = http.NewRequestWithContext(ctx, "GET", d.userinfo, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if kind := userinfoNamesSub(c, &d.requests, req); kind != "" {
		return opUserinfo, kind
	}
	lat[opUserinfo] = time.Since(t0)
	return nOIDCPhases, ""
}

func (r *oidcReport) print(w io.Writer) {
	failed := 0
	for _, n := range r.errors {
		failed += n
	}
	fmt.Fprintf(w, "flows      %d users for %s, %s ID tokens: %.1f flows/s, %d ok, %d failed; %.0f HTTP requests/s\n",
		r.users, r.elapsed.Round(10*time.Millisecond), r.alg, float64(r.ok)/r.elapsed.Seconds(), r.ok, failed,
		float64(r.requests)/r.elapsed.Seconds())
	printLatencyHeader(w)
	for i, name := range oidcPhaseNames {
		printLatency(w, name, r.phases[i])
	}
	printLatency(w, "total", r.total)
	if r.cpu != nil {
		r.cpu.print(w, r.ok, "flows")
	}
	printErrors(w, r.errors)
}
