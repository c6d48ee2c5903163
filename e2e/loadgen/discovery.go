package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mcfed/mcfed/client"
)

func discovery(args []string) error {
	fs := flag.NewFlagSet("discovery", flag.ContinueOnError)
	node := fs.String("url", "http://127.0.0.1:8080", "public URL of the node to drive")
	dev := fs.String("dev", "", "dev.json of a running `mcfed dev`: drive all its nodes in turn, as its SP, for its operators' numbers (in place of --url, --secret and the plan)")
	compare := fs.String("compare", "", "URL of a `loadgen bare` server to measure first, as the baseline")
	secret := fs.String("secret", "", "the loadgen SP's client secret, from setup")
	users := fs.Int("users", 64, "concurrent users")
	duration := fs.Duration("duration", 10*time.Second, "how long each run lasts")
	ranges := fs.Int("ranges", 1000000, "ranges setup loaded (with the same seed)")
	seed := fs.Uint64("seed", 1, "seed of the numbering plan")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var target discoveryTarget
	if *dev != "" {
		info, err := client.ReadDevInfo(*dev)
		if err != nil {
			return err
		}
		if target, err = devDiscoveryTarget(info); err != nil {
			return err
		}
	} else {
		prefixes := newPlan(*seed, *ranges, 0).prefixes()
		target = discoveryTarget{bases: []string{*node}, clientID: loadgenSP, secret: *secret, redirect: loadgenRedirect,
			number: func(rng *rand.Rand) uint64 { return number(rng, prefixes) }}
	}
	var base result
	if *compare != "" {
		baseline := target
		baseline.bases = []string{*compare}
		r, err := drive(baseline, *users, *duration)
		if err != nil {
			return err
		}
		base = r
		fmt.Printf("bare fiber  %s\n", r)
	}
	r, err := drive(target, *users, *duration)
	if err != nil {
		return err
	}
	fmt.Printf("discovery   %s (%d users, %d node(s))\n", r, *users, len(target.bases))
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
	lat := sortedCopy(r.lat)
	return fmt.Sprintf("%8.0f req/s  p50 %-9s p90 %-9s p99 %-9s statuses %v  transport errors %d", r.rate(),
		round(quantile(lat, 0.50)), round(quantile(lat, 0.90)), round(quantile(lat, 0.99)), r.status, r.errs)
}

// discoveryTarget is whom the discovery load asks, as which SP, about
// which numbers.
type discoveryTarget struct {
	bases                      []string // nodes' public URLs, taken in turn
	clientID, secret, redirect string
	number                     func(*rand.Rand) uint64
}

// devDiscoveryTarget drives every node of a dev federation as its demo SP,
// for numbers drawn uniformly from its operators' ranges.
func devDiscoveryTarget(info *client.DevInfo) (discoveryTarget, error) {
	spaces, err := devNumberSpaces(info)
	if err != nil {
		return discoveryTarget{}, err
	}
	t := discoveryTarget{clientID: info.SP.ClientID, secret: info.SP.ClientSecret, redirect: info.SP.RedirectURI,
		number: func(rng *rand.Rand) uint64 { return spaces[rng.IntN(len(spaces))].random(rng) }}
	for _, n := range info.Nodes {
		t.bases = append(t.bases, n.PublicURL)
	}
	return t, nil
}

// drive runs users concurrent loops of the GSMA Java SDK's discovery POST
// (form body with Redirect_URL, Using-Mobile-Data and MSISDN, preemptive
// Basic auth) for numbers target draws, for d, taking its nodes in turn.
func drive(target discoveryTarget, users int, d time.Duration) (result, error) {
	var hosts []*fasthttp.HostClient
	var endpoints []string
	for _, base := range target.bases {
		u, err := url.Parse(base)
		if err != nil {
			return result{}, err
		}
		hosts = append(hosts, &fasthttp.HostClient{Addr: u.Host, IsTLS: u.Scheme == "https", MaxConns: users, ReadTimeout: 10 * time.Second})
		endpoints = append(endpoints, strings.TrimRight(base, "/")+"/v2/discovery")
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(target.clientID+":"+target.secret))
	redirect := url.QueryEscape(target.redirect)

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
			for k := w; !stop.Load(); k++ {
				hc := hosts[k%len(hosts)]
				req.Reset()
				req.SetRequestURI(endpoints[k%len(hosts)])
				req.Header.SetMethod("POST")
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", "application/json")
				req.Header.SetContentType("application/x-www-form-urlencoded; charset=UTF-8")
				req.SetBodyString("Redirect_URL=" + redirect + "&Using-Mobile-Data=0&MSISDN=" +
					strconv.FormatUint(target.number(rng), 10) + "&correlation_id=lg-" + strconv.Itoa(w))
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
