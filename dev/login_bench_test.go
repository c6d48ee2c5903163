//go:build unix

package dev

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/pgtest"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/registry"
)

// BenchmarkLogin runs whole Mobile Connect logins on one node of the dev
// federation, the UK operator's: discovery, authorize and its code page,
// the SMS over SMPP to the simulated handset, the code typed on the page,
// token with PKCE, userinfo; 7 HTTP requests a login, over loopback, by
// 16 concurrent users (SetParallelism). It reports logins/s and
// cpu-ns/login, the process's CPU time (getrusage: user + system) over the
// logins divided by their number. The process is the whole federation, the
// simulated SMSC and handset and the benchmark's HTTP client: an upper
// bound on the node's own cost, which `loadgen logins` measures from a
// separate process. Sub-benchmarks by the ID token algorithm the SPs
// registered.
//
//	go test -run '^$' -bench Login -benchtime 2000x ./dev/
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	d, err := Start(ctx, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	lb := newLoginBench(d)
	defer lb.close()
	for _, alg := range []string{"RS256", "ES256"} {
		// Gateways throttle userinfo per SP (100/s): logins spread over 8.
		sps, err := lb.registerSPs(ctx, alg, 8)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) { lb.run(b, sps, nil) })
	}
}

// BenchmarkLoginStores runs BenchmarkLogin's ES256 logins with the UK
// operator's state on each store: embedded (bbolt in its data directory)
// and PostgreSQL (a throw-away cluster), each in a dev federation of its
// own, one after the other in the same run. cpu-ns/login counts the
// PostgreSQL server's processes too (pgtest.ServerCPU), so
// logins/cpu-s compares what each store costs the machine.
//
//	go test -run '^$' -bench LoginStores -benchtime 1000x ./dev/
func BenchmarkLoginStores(b *testing.B) {
	for _, store := range []string{"embedded", "postgres"} {
		b.Run(store, func(b *testing.B) {
			opts := Options{}
			var dbCPU func() time.Duration
			if store == "postgres" {
				opts.Stores = map[string]string{operators[0].id: pgtest.Database(b)}
				dbCPU = func() time.Duration {
					d, err := pgtest.ServerCPU()
					if err != nil {
						b.Fatalf("the database's CPU: %v", err)
					}
					return d
				}
			}
			lb, sps := startLoginBench(b, opts, "ES256")
			lb.run(b, sps, dbCPU)
		})
	}
}

// startLoginBench starts a dev federation with opts, stopped when b ends,
// and registers 8 SPs whose ID tokens are signed with alg (gateways
// throttle userinfo per SP: logins spread over them).
func startLoginBench(b *testing.B, opts Options, alg string) (*loginBench, []client.DevSPInfo) {
	d, err := Start(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	lb := newLoginBench(d)
	b.Cleanup(lb.close)
	sps, err := lb.registerSPs(context.Background(), alg, 8)
	if err != nil {
		b.Fatal(err)
	}
	return lb, sps
}

func newLoginBench(d *Federation) *loginBench {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	return &loginBench{d: d, node: d.Nodes[0], op: operators[0], tr: tr, client: &http.Client{Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (lb *loginBench) close() { lb.tr.CloseIdleConnections() }

// run logs b.N subscribers in through sps, 8 at a time, after warmLogins
// uncounted, and reports
// logins/s, cpu-ns/login (this process's CPU, plus other's when not nil:
// a database's, also reported alone as db-cpu-ns/login) and logins/cpu-s.
func (lb *loginBench) run(b *testing.B, sps []client.DevSPInfo, other func() time.Duration) {
	ctx := context.Background()
	// Uncounted first logins: the steady state is measured, not the first
	// touch of a fresh store's pages, pools and caches (a fresh
	// PostgreSQL's backends spent a third of their time in page faults).
	if err := lb.loginsReadAndDeleted(ctx, sps, warmLogins); err != nil {
		b.Fatalf("warming up: %v", err)
	}
	subs, err := lb.provision(ctx, (b.N+smsLimit-1)/smsLimit+64)
	if err != nil {
		b.Fatal(err)
	}
	otherNow := func() time.Duration {
		if other == nil {
			return 0
		}
		return other()
	}
	var failed atomic.Int64
	var failure atomic.Value
	var nextSP atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	cpu0, other0 := processCPU(b), otherNow()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		sp := sps[int(nextSP.Add(1))%len(sps)]
		for pb.Next() {
			s := <-subs
			if err := lb.login(ctx, sp, s); err != nil {
				failed.Add(1)
				failure.Store(err.Error())
				continue // s is retired: its inbox may hold an SMS no login read
			}
			if len(s.seen) < smsLimit {
				subs <- s
			}
		}
	})
	elapsed := time.Since(t0)
	own, others := processCPU(b)-cpu0, otherNow()-other0
	cpu := own + others
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d logins failed, the last: %v", n, b.N, failure.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/login")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "logins/cpu-s")
	if other != nil {
		b.ReportMetric(float64(others.Nanoseconds())/float64(b.N), "db-cpu-ns/login")
	}
}

// warmLogins are the logins run before a benchmark's are counted.
const warmLogins = 400

// smsLimit is how many logins a number may take part in: the SMS
// authenticator sends at most 5 SMS per number per 15 minutes.
const smsLimit = 5

// loginBench logs subscribers of one operator in through its node.
type loginBench struct {
	d    *Federation
	node *federation.Node
	op   operator
	next int // the next number of the operator's first range to provision
	// client reads each redirect itself, and keeps a connection per user.
	client *http.Client
	tr     *http.Transport
}

// benchSubscriber is a provisioned number and the SMS its logins read.
type benchSubscriber struct {
	msisdn string
	seen   map[string]bool
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// registerSPs registers n SPs whose ID tokens are signed with alg, and
// waits for the node to hold them.
func (lb *loginBench) registerSPs(ctx context.Context, alg string, n int) ([]client.DevSPInfo, error) {
	var sps []client.DevSPInfo
	for i := range n {
		sp := client.DevSPInfo{ClientID: fmt.Sprintf("bench-%s-%d", strings.ToLower(alg), i),
			ClientSecret: rand.Text() + rand.Text(), RedirectURI: spRedirect}
		body := map[string]any{"name": "Bench SP", "redirect_uris": []string{spRedirect}, "scopes": spScopes,
			"operators": []string{"*"}, "client_secret": sp.ClientSecret, "id_token_signed_response_alg": alg}
		if err := lb.d.admin(0).Do(ctx, "PUT", "/v1/service-providers/"+sp.ClientID, body, nil); err != nil {
			return nil, err
		}
		sps = append(sps, sp)
	}
	last := sps[n-1].ClientID
	return sps, waitRegistry(ctx, lb.d.Nodes[0], lb.op.nodeID(), "the bench SPs", func(r *registry.Registry) bool {
		return r.ServiceProvider(last) != nil
	})
}

// provision imports n new subscribers of the operator through its node's
// admin API and hands them out through a channel that holds them all.
func (lb *loginBench) provision(ctx context.Context, n int) (chan *benchSubscriber, error) {
	subs := make(chan *benchSubscriber, n)
	csv := []byte("msisdn,status,given_name,family_name\n")
	prefix := lb.op.prefixes[0]
	for len(subs) < n {
		number := fmt.Sprintf("%s%06d", prefix, lb.next)
		lb.next++
		if lb.next == 1e6 {
			return nil, errors.New("the operator's first range is used up")
		}
		if _, err := e164.Parse(number); err != nil || slices.Contains(lb.op.numbers(), number) {
			continue
		}
		subs <- &benchSubscriber{msisdn: number, seen: map[string]bool{}}
		csv = fmt.Appendf(csv, "%s,active,Bench,User\n", number)
	}
	return subs, lb.d.admin(0).Do(ctx, "POST", "/v1/subscribers/import", bytes.NewReader(csv), nil)
}

var benchOTP = regexp.MustCompile(`sign in to .*: (\d{4,10})\b`)

// login is one whole login of s, as loadgen's does it, all on the node.
func (lb *loginBench) login(ctx context.Context, sp client.DevSPInfo, s *benchSubscriber) error {
	noRedirect := lb.client
	form := url.Values{"Redirect_URL": {sp.RedirectURI}, "MSISDN": {strings.TrimPrefix(s.msisdn, "+")}}
	req, _ := http.NewRequestWithContext(ctx, "POST", lb.node.PublicURL()+"/v2/discovery", strings.NewReader(form.Encode()))
	req.SetBasicAuth(sp.ClientID, sp.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var disc client.DiscoveryAnswer
	if err := benchJSON(noRedirect, req, &disc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	links := disc.Links()

	state, verifier := rand.Text(), rand.Text()+rand.Text()
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {disc.Response.ClientID}, "redirect_uri": {sp.RedirectURI}, "response_type": {"code"},
		"scope": {"openid mc_authn profile"}, "acr_values": {"2"}, "state": {state}, "nonce": {rand.Text()},
		"version": {"mc_di_r2_v2.3"}, "login_hint": {"ENCR_MSISDN:" + disc.SubscriberID},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"}}
	page, err := benchRedirect(ctx, noRedirect, "GET", links["authorization"]+"?"+q.Encode(), nil)
	if err != nil || !strings.HasSuffix(page.Path, "/sms/otp") {
		return fmt.Errorf("authorize: %v %v", page, err)
	}
	req, _ = http.NewRequestWithContext(ctx, "GET", page.String(), nil)
	if _, err := benchBody(noRedirect, req, http.StatusOK); err != nil {
		return fmt.Errorf("code page: %w", err)
	}

	msisdn, _ := handset.NormalizeMSISDN(s.msisdn)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	msg, err := lb.d.phone.handset.WaitFor(wctx, msisdn, func(m handset.Message) bool { return !s.seen[m.ID] })
	cancel()
	if err != nil {
		return fmt.Errorf("no SMS: %w", err)
	}
	s.seen[msg.ID] = true
	otp := benchOTP.FindStringSubmatch(msg.Text)
	if otp == nil {
		return fmt.Errorf("no code in the SMS %q", msg.Text)
	}

	back, err := benchRedirect(ctx, noRedirect, "POST", page.Query().Get("return"), url.Values{"otp": {otp[1]}})
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != state {
		return fmt.Errorf("code typed: %v %v", back, err)
	}

	tf := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {sp.RedirectURI}, "code_verifier": {verifier}}
	req, _ = http.NewRequestWithContext(ctx, "POST", links["token"], strings.NewReader(tf.Encode()))
	req.SetBasicAuth(disc.Response.ClientID, disc.Response.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := benchJSON(noRedirect, req, &tok); err != nil || tok.IDToken == "" {
		return fmt.Errorf("token: %v", err)
	}

	req, _ = http.NewRequestWithContext(ctx, "GET", links["userinfo"], nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var info struct{ Sub string }
	if err := benchJSON(noRedirect, req, &info); err != nil || info.Sub == "" {
		return fmt.Errorf("userinfo: %v", err)
	}
	return nil
}

// benchRedirect sends a request that must answer 302, and returns where to.
func benchRedirect(ctx context.Context, c *http.Client, method, target string, form url.Values) (*url.URL, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(ctx, method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, errors.New("HTTP " + strconv.Itoa(resp.StatusCode))
	}
	return url.Parse(resp.Header.Get("Location"))
}

func benchBody(c *http.Client, req *http.Request, want int) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != want {
		err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, b)
	}
	return b, err
}

func benchJSON(c *http.Client, req *http.Request, out any) error {
	b, err := benchBody(c, req, http.StatusOK)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// loginsReadAndDeleted runs n logins through sps, 16 at a time, each SMS
// deleted from the simulated phone once its login read it.
func (lb *loginBench) loginsReadAndDeleted(ctx context.Context, sps []client.DevSPInfo, n int) error {
	subs, err := lb.provision(ctx, (n+smsLimit-1)/smsLimit+16)
	if err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				s := <-subs
				err := lb.login(ctx, sps[w%len(sps)], s)
				msisdn, _ := handset.NormalizeMSISDN(s.msisdn)
				for id := range s.seen {
					lb.d.phone.handset.Delete(msisdn, id)
				}
				if err != nil {
					errs <- fmt.Errorf("login of %s: %w", s.msisdn, err)
					return
				}
				if len(s.seen) < smsLimit {
					subs <- s
				}
			}
		}()
	}
	var failed error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if failed == nil && len(errs) > 0 {
		failed = <-errs
	}
	return failed
}
