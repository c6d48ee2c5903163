package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadWorkers is how many SPs hammer discovery at once: enough to keep the
// 2 cores busy, with one connection each.
const loadWorkers = 4

// discoveryLoad is discovery traffic kept up against some nodes while a
// test changes the federation under it. Every answer must be a 200 naming
// the operator that serves the number.
type discoveryLoad struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	ok       atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	failures []string // the first few, for the report
}

// startLoad sends discovery for the numbers of ops to targets, round
// robin, from loadWorkers goroutines until finish.
func startLoad(t *testing.T, s sp, targets []*node, ops ...demoOperator) *discoveryLoad {
	l := &discoveryLoad{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers, MaxIdleConns: loadWorkers * len(targets)}}
	t.Cleanup(func() { l.finish(); client.CloseIdleConnections() })
	for w := range loadWorkers {
		l.wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				n, op := targets[i%len(targets)], ops[(i/len(targets))%len(ops)]
				status, a, err := s.discover(client, n.publicURL(), op.Number)
				switch {
				case err != nil:
					l.fail(fmt.Sprintf("%s %s: %v", n.id, op.Number, err))
				case status != 200 || a.Response.ServingOperator != op.Name:
					l.fail(fmt.Sprintf("%s %s: %d %s %s %s", n.id, op.Number, status, a.Response.ServingOperator, a.Error, a.Description))
				default:
					l.ok.Add(1)
				}
			}
		})
	}
	return l
}

func (l *discoveryLoad) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.failures) < 5 {
		l.failures = append(l.failures, msg)
	}
	l.mu.Unlock()
}

// finish stops the load (once; later calls only wait).
func (l *discoveryLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitServed waits until the load has had at least n answers, so a test
// changes the federation while requests are really in flight.
func (l *discoveryLoad) waitServed(t *testing.T, n int64) {
	t.Helper()
	if err := poll(readyTimeout, func() (bool, error) {
		return l.ok.Load()+l.failed.Load() >= n, nil
	}); err != nil {
		t.Fatalf("the discovery load did not get going: %v", err)
	}
}

// check stops the load and fails the test if any request failed.
func (l *discoveryLoad) check(t *testing.T) {
	t.Helper()
	l.finish()
	t.Logf("discovery under load: %d answered, %d failed", l.ok.Load(), l.failed.Load())
	if f := l.failed.Load(); f > 0 {
		t.Errorf("%d discovery requests failed under load, e.g. %q", f, l.failures)
	}
	if l.ok.Load() == 0 {
		t.Error("no discovery request was answered")
	}
}
