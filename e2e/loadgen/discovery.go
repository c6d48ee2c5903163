package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func discovery(args []string) error {
	fs := flag.NewFlagSet("discovery", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8080", "public URL of the node to drive")
	compare := fs.String("compare", "", "URL of a `loadgen bare` server to measure first, as the baseline")
	secret := fs.String("secret", "", "the loadgen SP's client secret, from setup")
	users := fs.Int("users", 64, "concurrent users")
	duration := fs.Duration("duration", 10*time.Second, "how long each run lasts")
	ranges := fs.Int("ranges", 1000000, "ranges setup loaded (with the same seed)")
	seed := fs.Uint64("seed", 1, "seed of the numbering plan")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prefixes := newPlan(*seed, *ranges, 0).prefixes()
	var base result
	if *compare != "" {
		r, err := drive(*compare, *secret, prefixes, *users, *duration)
		if err != nil {
			return err
		}
		base = r
		fmt.Printf("bare fiber  %s\n", r)
	}
	r, err := drive(*target, *secret, prefixes, *users, *duration)
	if err != nil {
		return err
	}
	fmt.Printf("discovery   %s\n", r)
	if base.n > 0 {
		fmt.Printf("ratio       %.2f of the bare handler's throughput\n", r.rate()/base.rate())
	}
	if r.status[200] == 0 {
		return fmt.Errorf("no discovery request succeeded: %v", r.status)
	}
	return nil
}

type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
	status  map[int]int
	errs    int
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) String() string {
	slices.Sort(r.lat)
	q := func(f float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(f*float64(len(r.lat))))]
	}
	return fmt.Sprintf("%8.0f req/s  p50 %-9s p99 %-9s statuses %v  transport errors %d",
		r.rate(), q(0.50).Round(time.Microsecond), q(0.99).Round(time.Microsecond), r.status, r.errs)
}

// drive runs users concurrent loops of the GSMA Java SDK's discovery POST
// (form body with Redirect_URL, Using-Mobile-Data and MSISDN, preemptive
// Basic auth) for numbers drawn from the plan's ranges, for d.
func drive(base, secret string, prefixes []int, users int, d time.Duration) (result, error) {
	u, err := url.Parse(base)
	if err != nil {
		return result{}, err
	}
	hc := &fasthttp.HostClient{Addr: u.Host, IsTLS: u.Scheme == "https", MaxConns: users, ReadTimeout: 10 * time.Second}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(loadgenSP+":"+secret))
	endpoint := base + "/v2/discovery"
	redirect := url.QueryEscape(loadgenRedirect)

	var (
		mu    sync.Mutex
		total = result{status: map[int]int{}}
		wg    sync.WaitGroup
		stop  atomic.Bool
	)
	start := time.Now()
	for w := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			local := result{status: map[int]int{}}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for !stop.Load() {
				req.Reset()
				req.SetRequestURI(endpoint)
				req.Header.SetMethod("POST")
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", "application/json")
				req.Header.SetContentType("application/x-www-form-urlencoded; charset=UTF-8")
				req.SetBodyString("Redirect_URL=" + redirect + "&Using-Mobile-Data=0&MSISDN=" +
					strconv.FormatUint(number(rng, prefixes), 10) + "&correlation_id=lg-" + strconv.Itoa(w))
				t0 := time.Now()
				err := hc.Do(req, resp)
				local.lat = append(local.lat, time.Since(t0))
				local.n++
				if err != nil {
					local.errs++
					continue
				}
				local.status[resp.StatusCode()]++
			}
			mu.Lock()
			total.n += local.n
			total.errs += local.errs
			total.lat = append(total.lat, local.lat...)
			for k, v := range local.status {
				total.status[k] += v
			}
			mu.Unlock()
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	total.elapsed = time.Since(start)
	return total, nil
}
