package discovery

// Throughput of the real discovery handler beside a bare fiber handler that
// returns a body of the same size, measured in the same run, on a registry
// at scale: one large country's numbering plan (+91, ten-digit national
// numbers starting 6-9), MCFED_BENCH_RANGES seven-digit ranges over six
// operators and MCFED_BENCH_PORTED ported numbers drawn from the whole span.
// Load comes from concurrent fasthttp clients in the same process, over
// fasthttp's in-memory listener (no kernel sockets; client and server share
// the cores, as a load generator on the same machine would).
//
//	go test -run '^$' -bench 'BareFiber|Discovery|Seal|Open' -benchtime 5s ./discovery/
//	MCFED_BENCH_RANGES=1000000 MCFED_BENCH_PORTED=10000000 go test -run '^$' -bench 'BareFiber|Discovery' ./discovery/
//	MCFED_BENCH_LEGACY_SECRET=1 go test -run '^$' -bench 'BareFiber|DiscoveryNoSeal' ./discovery/
//
// BenchmarkBareFiber must run first (it does: same file, declared first) for
// BenchmarkDiscovery to report the ratios (ratio: of requests a second;
// cpu-ratio: of the process's CPU time a request, steadier on a busy
// machine). BenchmarkDiscoverySymmetric (the
// symmetric subscriber_id, symseal.go) runs its own bare handler first,
// with a body the size of its shorter answer.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type benchFixture struct {
	reg     *registry.Registry
	node    SealKeyPair // the answering node's X25519 key, published
	gateway SealKeyPair // every operator's gateway key (one, for brevity)
	number  string      // a valid number in a range
	ported  string      // a ported number
	answer  []byte      // a real discovery answer for number
	ranges  int
	nPorted int
	load    time.Duration
}

var (
	benchOnce sync.Once
	benchFix  *benchFixture
)

func loadBenchFixture(b *testing.B) *benchFixture {
	benchOnce.Do(func() {
		start := time.Now()
		key := testKeys()["red"]
		f := &benchFixture{reg: registry.New(), ranges: benchEnvInt("MCFED_BENCH_RANGES", 10000),
			node: newSealKey(b), gateway: newSealKey(b)}
		a := &applier{t: b, r: f.reg}
		a.must(registry.CmdPutNode, registry.Node{ID: "bench", RaftAddr: "127.0.0.1:7000", AdminURL: "http://127.0.0.1:8000",
			SealKeys: []registry.SealKey{f.node.Published()}})
		a.must(registry.CmdPutScope, registry.Scope{Name: "openid"})
		a.must(registry.CmdPutScope, registry.Scope{Name: "mc_authn"})
		var ids []string
		for i := range 6 {
			id := fmt.Sprintf("op%d", i)
			ids = append(ids, id)
			a.must(registry.CmdPutOperator, registry.Operator{ID: id, Name: "Operator " + id, Country: "IN", Currency: "INR",
				Networks: []string{fmt.Sprintf("404_%02d", 10+i)}, Issuer: "https://" + id + ".example/oidc",
				SealingKey: publicPEM(key), Status: registry.StatusActive,
				SealKeys: []registry.SealKey{f.gateway.Published()}, SubscriberIDForms: []string{registry.FormX25519AESGCM, registry.FormRSAPKCS1}})
		}
		// The SP has per-operator secrets: discovery checks its secret and
		// derives the serving operator's (both from a cache after the first
		// request). MCFED_BENCH_LEGACY_SECRET=1 makes it a legacy SP (one
		// SHA-256 of its secret, echoed), for comparison.
		sp := registry.ServiceProvider{ClientID: shopID, Name: "Bench Shop",
			SecretKey: spsecret.PublicKey(shopSecret), RedirectURIs: []string{shopRedirect},
			Scopes: []string{"openid", "mc_authn"}, Operators: []string{registry.AllOperators}, Status: registry.StatusActive}
		if os.Getenv("MCFED_BENCH_LEGACY_SECRET") == "1" {
			sp.SecretKey, sp.SecretHash = "", registry.HashSecret(shopSecret)
		}
		a.must(registry.CmdPutSP, sp)

		rng := rand.New(rand.NewPCG(1, 2))
		perm := rng.Perm(4000000)[:min(f.ranges, 4000000)]
		f.ranges = len(perm)
		batch := registry.RangeBatch{}
		for i, p := range perm {
			batch.Ranges = append(batch.Ranges, registry.Range{Prefix: "+91" + strconv.Itoa(6000000+p), Operator: ids[i%6]})
			if len(batch.Ranges) == 1000 || i == len(perm)-1 {
				a.must(registry.CmdPutRanges, batch)
				batch.Ranges = batch.Ranges[:0]
			}
		}
		// A known number: the first range's prefix and a subscriber part
		// that makes a valid number.
		for sub := 123; f.number == ""; sub++ {
			s := "+91" + strconv.Itoa(6000000+perm[0]) + fmt.Sprintf("%03d", sub)
			if _, err := e164.FastValidator().Check([]byte(s)); err == nil {
				f.number = s
			}
		}

		nums := make([]uint64, benchEnvInt("MCFED_BENCH_PORTED", 100000))
		for i := range nums {
			nums[i] = 916000000000 + rng.Uint64N(4000000000)
		}
		slices.Sort(nums)
		nums = slices.Compact(nums)
		f.nPorted = len(nums)
		f.ported = e164.Format(nums[len(nums)/2])
		for lo := 0; lo < len(nums); lo += 1000000 {
			part := nums[lo:min(lo+1000000, len(nums))]
			ps := make([]registry.Port, len(part))
			for i, n := range part {
				ps[i] = registry.Port{Number: n, Operator: ids[n%6]}
			}
			a.ports(ps...)
		}
		f.load = time.Since(start)
		benchFix = f
	})
	if benchFix == nil {
		b.Fatal("bench fixture failed")
	}
	return benchFix
}

// benchServer serves app and returns a client for it: over fasthttp's
// in-memory listener, or loopback TCP with MCFED_BENCH_LISTENER=tcp (the
// kernel's share then weighs on both sides, as with a separate load
// generator).
func benchServer(b *testing.B, app *fiber.App) *fasthttp.HostClient {
	var (
		ln     net.Listener
		client *fasthttp.HostClient
	)
	if os.Getenv("MCFED_BENCH_LISTENER") == "tcp" {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		client = &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 4096}
	} else {
		mem := fasthttputil.NewInmemoryListener()
		ln = mem
		client = &fasthttp.HostClient{Addr: "node.bench", Dial: func(string) (net.Conn, error) { return mem.Dial() }, MaxConns: 4096}
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	b.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			b.Error(err)
		}
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return client
}

// javaRequest is the Java SDK's discovery POST for msisdn.
func javaRequest(msisdn string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://node.bench/v2/discovery")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/x-www-form-urlencoded; charset=UTF-8")
	req.Header.Set("Authorization", basic(shopID, shopSecret))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("SDK-Version", "Java-2.4.7")
	req.Header.Set("X-Redirect", "APP")
	req.Header.Set("Client-Side-Version", "none")
	req.SetBodyString(form("Redirect_URL", shopRedirect, "Using-Mobile-Data", "0", "MSISDN", msisdn[1:], "correlation_id", testCorrelation))
	return req
}

// rate is what load measured: requests a second, and the process's CPU
// time a request (client and server: both are in this process).
type rate struct{ rps, cpu float64 }

// ratios reports r against a bare run: the rate's ratio, and the ratio of
// CPU time a request (bare over r), which a busy shared machine disturbs
// less than the rate: on an idle one, where client and server saturate the
// same cores, the two agree.
func (r rate) ratios(b *testing.B, bare rate) {
	if bare.rps > 0 {
		b.ReportMetric(r.rps/bare.rps, "ratio")
		b.ReportMetric(bare.cpu/r.cpu, "cpu-ratio")
	}
}

// load sends b.N copies of tmpl from concurrent clients and reports
// requests/s, CPU time a request and latency percentiles.
func load(b *testing.B, c *fasthttp.HostClient, tmpl *fasthttp.Request, wantStatus, wantLen int) rate {
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	// RunParallel starts parallelism×GOMAXPROCS clients.
	b.SetParallelism(max(1, benchEnvInt("MCFED_BENCH_CLIENTS", 32)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		tmpl.CopyTo(req)
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
			if resp.StatusCode() != wantStatus || len(resp.Body()) != wantLen {
				b.Errorf("status %d, %d bytes; want %d, %d bytes: %s", resp.StatusCode(), len(resp.Body()), wantStatus, wantLen, resp.Body())
				return
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	r := rate{rps: float64(b.N) / b.Elapsed().Seconds(), cpu: float64(processCPU(b)-cpu0) / float64(b.N)}
	b.ReportMetric(r.rps, "req/s")
	b.ReportMetric(r.cpu/1e3, "cpu-µs/op")
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	return r
}

// bareRate is BenchmarkBareFiber's last figure, for BenchmarkDiscovery's ratio.
var bareRate rate

func BenchmarkBareFiber(b *testing.B) {
	f := loadBenchFixture(b)
	bareRate = bareFiber(b, f, realAnswer(b, f, nil))
}

// bareFiber serves body from a bare fiber handler and returns its rate.
func bareFiber(b *testing.B, f *benchFixture, body []byte) rate {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/v2/discovery", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	})
	client := benchServer(b, app)
	tmpl := javaRequest(f.number)
	defer fasthttp.ReleaseRequest(tmpl)
	return load(b, client, tmpl, 200, len(body))
}

func BenchmarkDiscovery(b *testing.B) {
	f := loadBenchFixture(b)
	discoveryRuns(b, f, nil, realAnswer(b, f, nil), bareRate)
}

// BenchmarkDiscoverySymmetric is BenchmarkDiscovery with the symmetric
// subscriber_id (the node's key published, every operator's gateway opening
// the form), against a bare handler run first with a body of the same
// (shorter) size.
func BenchmarkDiscoverySymmetric(b *testing.B) {
	f := loadBenchFixture(b)
	body := realAnswer(b, f, &f.node)
	var bare rate
	b.Run("bare", func(b *testing.B) { bare = bareFiber(b, f, body) })
	discoveryRuns(b, f, &f.node, body, bare)
}

// discoveryRuns measures discovery of a number in a range and of a ported
// number, reporting the ratio to bare requests a second.
func discoveryRuns(b *testing.B, f *benchFixture, sealKey *SealKeyPair, body []byte, bare rate) {
	for _, tc := range []struct{ name, number string }{{"range", f.number}, {"ported", f.ported}} {
		b.Run(tc.name, func(b *testing.B) {
			app, _ := benchApp(b, f, sealKey)
			client := benchServer(b, app)
			tmpl := javaRequest(tc.number)
			defer fasthttp.ReleaseRequest(tmpl)
			load(b, client, tmpl, 200, len(body)).ratios(b, bare)
			b.ReportMetric(float64(f.ranges), "ranges")
			b.ReportMetric(float64(f.nPorted), "ported")
		})
	}
}

// BenchmarkDiscoveryNoSeal is the same request path without the RSA
// operation (Selected-MCC/MNC: no number, no subscriber_id), to show what
// sealing costs in throughput.
func BenchmarkDiscoveryNoSeal(b *testing.B) {
	f := loadBenchFixture(b)
	app, _ := benchApp(b, f, nil)
	client := benchServer(b, app)
	tmpl := javaRequest(f.number)
	defer fasthttp.ReleaseRequest(tmpl)
	tmpl.SetBodyString(form("Redirect_URL", shopRedirect, "Selected-MCC", "404", "Selected-MNC", "10", "correlation_id", testCorrelation))
	want := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(want)
	if err := client.Do(tmpl, want); err != nil || want.StatusCode() != 200 {
		b.Fatalf("%v %d %s", err, want.StatusCode(), want.Body())
	}
	load(b, client, tmpl, 200, len(want.Body())).ratios(b, bareRate)
}

// BenchmarkSeal is one subscriber_id: padding, RSA-2048 PKCS#1 v1.5, hex.
func BenchmarkSeal(b *testing.B) {
	pub := &testKeys()["red"].PublicKey
	n := mustNumber(b, numRed)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(pub, n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen is the operator gateway's side: RSA-2048 decryption.
func BenchmarkOpen(b *testing.B) {
	k := testKeys()["red"]
	id, _ := Seal(&k.PublicKey, mustNumber(b, numRed))
	for b.Loop() {
		if _, err := Open(k, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealSymmetric is one symmetric subscriber_id at a discovery
// node, its key for the operator agreed and cached: AES-256-GCM, hex.
func BenchmarkSealSymmetric(b *testing.B) {
	f := newSymFixture(b)
	n := mustNumber(b, numRed)
	op := f.a.Published()
	dst := make([]byte, 0, 2*symSealedLen)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.sealer.seal(dst[:0], op, shopID, n, f.now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSymmetric is the gateway's side of the symmetric form, its
// key for the sealing node agreed and cached: hex, checks, AES-256-GCM.
func BenchmarkOpenSymmetric(b *testing.B) {
	f := newSymFixture(b)
	id := f.seal(b, f.a, shopID, mustNumber(b, numRed), time.Hour)
	o := f.opener(f.now)
	keys := []SealKeyPair{f.a}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Open(keys, id, shopID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandler is the discovery handler alone, without a connection or
// a client sharing the cores: the Java SDK's request in a RequestCtx, served
// by the app (routing, parsing, the SP's checks, lookups, the symmetric
// seal, the answer). Its cpu-ns/op (the process's user and system time, GC
// included, over the requests) follows the handler's own cost more steadily
// than wall-clock figures on a busy machine.
//
// bare is the bare fiber handler of BenchmarkDiscoverySymmetric (a body of
// the same size) in the same harness: what routing, the request's copy and
// the response cost without discovery.
func BenchmarkHandler(b *testing.B) {
	f := loadBenchFixture(b)
	body := realAnswer(b, f, &f.node)
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Post("/v2/discovery", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	})
	for _, tc := range []struct{ name, number string }{{"bare", f.number}, {"range", f.number}, {"ported", f.ported}} {
		b.Run(tc.name, func(b *testing.B) {
			app := bare
			if tc.name != "bare" {
				app, _ = benchApp(b, f, &f.node)
			}
			h := app.Handler()
			req := javaRequest(tc.number)
			defer fasthttp.ReleaseRequest(req)
			var ctx fasthttp.RequestCtx
			ctx.Init(req, nil, nil)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				req.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) != len(body) {
					b.Fatalf("status %d, %d bytes, want 200, %d bytes: %s", ctx.Response.StatusCode(), len(ctx.Response.Body()), len(body), ctx.Response.Body())
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse is the parameter parsing of the Java SDK's request alone.
func BenchmarkParse(b *testing.B) {
	raw := rawRequest{
		Body:          []byte(form("Redirect_URL", shopRedirect, "Using-Mobile-Data", "0", "MSISDN", "447911123456", "correlation_id", testCorrelation)),
		ContentType:   []byte("application/x-www-form-urlencoded; charset=UTF-8"),
		Authorization: []byte(basic(shopID, shopSecret)),
		Accept:        []byte("application/json"),
	}
	var p parser
	b.ReportAllocs()
	for b.Loop() {
		if err := p.parse(&raw); err != nil {
			b.Fatal(err)
		}
	}
}

func benchApp(b *testing.B, f *benchFixture, sealKey *SealKeyPair) (*fiber.App, *Service) {
	// In process, unsealed answers run past any one SP's default budget
	// (a node over the network does not): the benchmark measures the
	// handler, not the throttle.
	svc, err := New(Config{Registry: f.reg, PublicURL: "http://node.bench", SelectionKey: []byte("0123456789abcdef0123456789abcdef"),
		Throttle: Throttle{Rate: 1e9, Burst: 1 << 30}, SealKey: sealKey})
	if err != nil {
		b.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	svc.Mount(app)
	return app, svc
}

// realAnswer is the discovery answer for the fixture's number, whose size
// the bare handler copies.
func realAnswer(b *testing.B, f *benchFixture, sealKey *SealKeyPair) []byte {
	app, _ := benchApp(b, f, sealKey)
	client := benchServer(b, app)
	req := javaRequest(f.number)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("discovery of %s: %v %d %s", f.number, err, resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...)
}
