package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/client"
)

// logins is the `logins` subcommand: full Mobile Connect logins against a
// running dev federation, as an SP and its users do them.
func logins(args []string) error {
	fs := flag.NewFlagSet("logins", flag.ContinueOnError)
	dev := fs.String("dev", "", "dev.json of a running `mcfed dev` (in its data directory)")
	users := fs.Int("users", 16, "concurrent users, each doing one login after another")
	duration := fs.Duration("duration", 20*time.Second, "how long the run lasts")
	maxLogins := fs.Int("logins", 0, "stop after this many logins (0: only the duration counts)")
	nSPs := fs.Int("sps", 8, "SPs the users log in to, registered for the run (users take them in turn): the gateways throttle userinfo per SP, as a real federation serves many")
	perOp := fs.Int("subscribers", 1000, "subscribers provisioned per operator; each takes part in at most 5 logins (the SMS sending limit per number per 15 minutes)")
	alg := fs.String("alg", "", "ID token algorithm the load SPs register (id_token_signed_response_alg: RS256, PS256 or ES256; default the gateways' default, RS256)")
	pid := fs.Int("server-pid", 0, "process whose CPU time is the server's (default: the pid dev.json gives; -1: none)")
	phaseLogins := fs.Int("phase-logins", 0, "after the run, this many more logins in waves, one phase at a time across a wave, with the server's CPU read between phases: the CPU each phase costs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dev == "" {
		return errors.New("logins needs --dev <path of dev.json>")
	}
	if *alg != "" && *nSPs == 0 {
		return errors.New("--alg registers the load SPs with it: it needs --sps > 0")
	}
	info, err := client.ReadDevInfo(*dev)
	if err != nil {
		return err
	}
	if *pid == 0 {
		*pid = info.PID
	}
	server, err := newServerCPU(max(*pid, 0))
	if err != nil {
		return err
	}
	if server == nil && *phaseLogins > 0 {
		return errors.New("--phase-logins needs the server's pid: dev.json gives none, pass --server-pid")
	}
	rep, err := runLogins(context.Background(), loginConfig{info: info, users: *users, duration: *duration,
		maxLogins: *maxLogins, perOperator: *perOp, sps: *nSPs, idTokenAlg: *alg, server: server,
		phaseLogins: *phaseLogins, log: os.Stdout})
	if err != nil {
		return err
	}
	rep.print(os.Stdout)
	if rep.ok == 0 {
		return errors.New("no login succeeded")
	}
	return nil
}

// loginConfig is one run of the login load.
type loginConfig struct {
	info        *client.DevInfo
	users       int
	duration    time.Duration
	maxLogins   int // 0: no limit
	perOperator int
	sps         int    // load SPs to register (0: the demo SP alone)
	idTokenAlg  string // what the load SPs register ("": the default)
	server      *serverCPU
	phaseLogins int       // logins of the phase-by-phase pass after the run (0: none)
	log         io.Writer // provisioning progress
}

// The phases of one login, in order.
const (
	phDiscovery = iota
	phAuthorize
	phSMS
	phOTP
	phToken
	phUserinfo
	nPhases
)

var phaseNames = [nPhases]string{"discovery", "authorize", "sms", "otp", "token", "userinfo"}

// loginReport is what a run measured.
type loginReport struct {
	users, provisioned, used int
	exhausted                bool
	elapsed                  time.Duration
	ok                       int
	requests                 int64
	phases                   [nPhases][]time.Duration // successful phases
	total                    []time.Duration          // successful logins
	errors                   map[string]int           // "phase: kind" -> count
	cpu                      *cpuSpan                 // the server's CPU over the run (nil: not measured)
	phaseCPU                 *phaseReport             // the phase-by-phase pass (nil: none)
}

// loginError is a failed login: the phase and a short kind to count by.
type loginError struct {
	phase int
	kind  string
}

func (e *loginError) Error() string { return phaseNames[e.phase] + ": " + e.kind }

// runLogins provisions subscribers, then runs cfg.users concurrent users
// until the duration passes, cfg.maxLogins logins have started or the
// subscribers' SMS allowance is spent. A login in progress at the end is
// finished and counted.
func runLogins(ctx context.Context, cfg loginConfig) (*loginReport, error) {
	if cfg.log == nil {
		cfg.log = io.Discard
	}
	subs, err := provision(ctx, cfg.info, cfg.perOperator, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), cfg.log)
	if err != nil {
		return nil, err
	}
	p := newPool(subs)
	sps := []client.DevSPInfo{cfg.info.SP}
	if cfg.sps > 0 {
		if sps, err = registerLoadSPs(ctx, cfg.info, cfg.sps, cfg.idTokenAlg, cfg.log); err != nil {
			return nil, err
		}
	}
	d := &loginDriver{info: cfg.info, idTokenAlg: cfg.idTokenAlg, client: &http.Client{
		Timeout: 15 * time.Second,
		// Each redirect is a step the driver reads itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConns: 8 * cfg.users, MaxIdleConnsPerHost: 2 * cfg.users,
			IdleConnTimeout: 90 * time.Second},
	}}
	defer d.client.CloseIdleConnections()
	rep := &loginReport{users: cfg.users, provisioned: len(subs), errors: map[string]int{}}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		started atomic.Int64
	)
	done := make(chan struct{})
	var cpu0 time.Duration
	if cfg.server != nil {
		if cpu0, err = cfg.server.read(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for u := range cfg.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(u), uint64(time.Now().UnixNano())))
			var local loginReport
			local.errors = map[string]int{}
			for {
				if cfg.maxLogins > 0 && started.Add(1) > int64(cfg.maxLogins) {
					break
				}
				s, ok := p.take(done)
				if !ok {
					break
				}
				var lat [nPhases]time.Duration
				t0 := time.Now()
				err := d.login(ctx, rng, &sps[u%len(sps)], s, &lat)
				var le *loginError
				switch {
				case err == nil:
					local.ok++
					local.total = append(local.total, time.Since(t0))
					for i := range lat {
						local.phases[i] = append(local.phases[i], lat[i])
					}
				case errors.As(err, &le):
					local.errors[le.Error()]++
					for i := range le.phase {
						local.phases[i] = append(local.phases[i], lat[i])
					}
				default:
					local.errors[err.Error()]++
				}
				p.give(s, err == nil)
			}
			mu.Lock()
			defer mu.Unlock()
			rep.ok += local.ok
			rep.total = append(rep.total, local.total...)
			for i := range local.phases {
				rep.phases[i] = append(rep.phases[i], local.phases[i]...)
			}
			for k, v := range local.errors {
				rep.errors[k] += v
			}
		}()
	}
	timer := time.NewTimer(cfg.duration)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-timer.C:
		close(done)
		<-all
	case <-all: // every user stopped: the login count or the subscribers ran out
		timer.Stop()
		close(done)
	}
	rep.elapsed = time.Since(start)
	if cfg.server != nil {
		cpu1, err := cfg.server.read()
		if err != nil {
			return nil, err
		}
		rep.cpu = &cpuSpan{pid: int(cfg.server.proc.PID), cpu: cpu1 - cpu0, wall: rep.elapsed}
	}
	rep.used = p.used()
	rep.exhausted = p.isExhausted()
	rep.requests = d.requests.Load()
	if cfg.phaseLogins > 0 {
		if rep.phaseCPU, err = runPhases(ctx, d, p, sps, cfg.users, cfg.phaseLogins, cfg.server); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (r *loginReport) print(w io.Writer) {
	failed := 0
	for _, n := range r.errors {
		failed += n
	}
	fmt.Fprintf(w, "logins     %d users for %s: %.1f logins/s, %d ok, %d failed; %.0f HTTP requests/s (handset polls included)\n",
		r.users, r.elapsed.Round(10*time.Millisecond), float64(r.ok)/r.elapsed.Seconds(), r.ok, failed,
		float64(r.requests)/r.elapsed.Seconds())
	fmt.Fprintf(w, "subscribers %d provisioned, %d used (each in at most %d logins)\n", r.provisioned, r.used, smsPerNumber)
	if r.exhausted {
		fmt.Fprintf(w, "            every subscriber's SMS allowance was spent before the end: give more with --subscribers\n")
	}
	printLatencyHeader(w)
	for i, name := range phaseNames {
		printLatency(w, name, r.phases[i])
	}
	printLatency(w, "total", r.total)
	if r.cpu != nil {
		r.cpu.print(w, r.ok, "logins")
	}
	if r.phaseCPU != nil {
		r.phaseCPU.print(w)
	}
	printErrors(w, r.errors)
}

// awaitSMS polls the subscriber's inbox until an SMS newer than the one its
// last login read arrives, and returns its code and id.
func (d *loginDriver) awaitSMS(ctx context.Context, s *loadSubscriber) (code, id, kind string) {
	deadline := time.Now().Add(10 * time.Second)
	wait := time.Millisecond
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", d.info.Handset.MessagesURL(s.msisdn), nil)
		var inbox struct {
			Messages []struct{ ID, Text string } `json:"messages"`
		}
		if kind := d.json(req, &inbox); kind != "" {
			return "", "", "handset " + kind
		}
		if len(inbox.Messages) > 0 && inbox.Messages[0].ID != s.lastSMS {
			m := otpInSMS.FindStringSubmatch(inbox.Messages[0].Text)
			if m == nil {
				return "", "", "no code in the SMS"
			}
			return m[1], inbox.Messages[0].ID, ""
		}
		if time.Now().After(deadline) {
			return "", "", "no SMS within 10s"
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// answer is an HTTP answer read whole (so that the connection is reused).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// location is the answer's redirect target (nil without one).
func (a answer) location() *url.URL {
	u, err := url.Parse(a.header.Get("Location"))
	if err != nil || a.header.Get("Location") == "" {
		return nil
	}
	return u
}

// unexpected names an answer that is not the step's: the OAuth error a
// redirect carries, or the status.
func (a answer) unexpected() string {
	if loc := a.location(); loc != nil && loc.Query().Get("error") != "" {
		return "error=" + loc.Query().Get("error")
	}
	return "HTTP " + strconv.Itoa(a.status)
}

// do sends req; a non-empty kind names a transport failure.
func (d *loginDriver) do(req *http.Request) (answer, string) { return send(d.client, &d.requests, req) }

// json sends req and decodes a 200 JSON answer into out; a non-empty kind
// says what went wrong.
func (d *loginDriver) json(req *http.Request, out any) string {
	return sendJSON(d.client, &d.requests, req, out)
}

// send sends req with c, counting it in sent; a non-empty kind names a
// transport failure.
func send(c *http.Client, sent *atomic.Int64, req *http.Request) (answer, string) {
	sent.Add(1)
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return answer{}, "timeout"
		}
		return answer{}, "transport error"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, "reading the answer"
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, ""
}

// sendJSON sends req and decodes a 200 JSON answer into out; a non-empty
// kind says what went wrong.
func sendJSON(c *http.Client, sent *atomic.Int64, req *http.Request, out any) string {
	a, kind := send(c, sent, req)
	if kind != "" {
		return kind
	}
	if a.status != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(a.body, &e)
		return strings.TrimSpace(a.unexpected() + " " + e.Error)
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return "not JSON"
	}
	return ""
}

// randomString is 32 random bytes, base64url (43 characters: a valid PKCE
// verifier). The run's own generator suffices: the gateway, not the load
// generator, is under test.
func randomString(rng *rand.Rand) string {
	var b [32]byte
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
