package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/e164"
)

// smsPerNumber is how many logins one number may take part in: the SMS
// authenticator sends at most 5 SMS per number per 15 minutes
// (operator/sms DefaultSendLimit), and every login sends one.
const smsPerNumber = 5

// loadSubscriber is a number the load generator provisioned and logs in as.
type loadSubscriber struct {
	msisdn  string // E.164 with "+"
	op      int    // index in dev.json's operators
	uses    int
	lastSMS string // id of the SMS its previous login read
}

// provision creates perOperator subscribers in each operator's store
// through its admin API, with numbers from its demo ranges, and returns
// them interleaved by operator. The block of numbers starts at a random
// place in each operator's space, so that a second run within 15 minutes
// does not meet numbers the first one used up.
func provision(ctx context.Context, info *client.DevInfo, perOperator int, rng *rand.Rand, log io.Writer) ([]*loadSubscriber, error) {
	spaces, err := devNumberSpaces(info)
	if err != nil {
		return nil, err
	}
	var byOp [][]*loadSubscriber
	for i, space := range spaces {
		demo := map[string]bool{}
		for _, n := range space.op.DemoNumbers {
			demo[n] = true
		}
		if uint64(perOperator) > space.size()/2 {
			return nil, fmt.Errorf("operator %s: %d subscribers do not fit its ranges", space.op.ID, perOperator)
		}
		start := rng.Uint64N(space.size() - uint64(perOperator)*2)
		var subs []*loadSubscriber
		csv := []byte("msisdn,status,given_name,family_name,email\n")
		for k := start; len(subs) < perOperator && k < space.size(); k++ {
			number := e164.Format(space.nth(k))
			// Demo subscribers keep their attributes; numbers that are not
			// valid for the country are skipped (the import would refuse
			// the whole file).
			if _, err := e164.Parse(number); err != nil || demo[number] {
				continue
			}
			subs = append(subs, &loadSubscriber{msisdn: number, op: i})
			csv = fmt.Appendf(csv, "%s,active,Load,User %d,load%d@%s.example\n", number, len(subs), len(subs), space.op.ID)
		}
		if len(subs) < perOperator {
			return nil, fmt.Errorf("operator %s: found %d valid numbers, want %d", space.op.ID, len(subs), perOperator)
		}
		admin := &client.Admin{Base: space.op.AdminURL, Token: info.AdminToken}
		var res struct{ Rows, Created, Updated, Unchanged int }
		t0 := time.Now()
		if err := admin.Do(ctx, "POST", "/v1/subscribers/import", bytes.NewReader(csv), &res); err != nil {
			return nil, fmt.Errorf("provisioning subscribers at %s: %w", space.op.ID, err)
		}
		fmt.Fprintf(log, "provisioned %d subscribers at %s (%d new) in %s\n", res.Rows, space.op.ID, res.Created,
			time.Since(t0).Round(time.Millisecond))
		byOp = append(byOp, subs)
	}
	var all []*loadSubscriber
	for k := range perOperator {
		for _, subs := range byOp {
			all = append(all, subs[k])
		}
	}
	return all, nil
}

// pool hands out subscribers in turn, each to one login at a time (its
// inbox then holds only that login's SMS), each for at most smsPerNumber
// logins.
type pool struct {
	ch        chan *loadSubscriber
	live      atomic.Int64 // subscribers not yet retired
	exhausted chan struct{}
	once      sync.Once
	mu        sync.Mutex
	taken     map[string]bool // numbers used at least once
}

func newPool(subs []*loadSubscriber) *pool {
	p := &pool{ch: make(chan *loadSubscriber, len(subs)), exhausted: make(chan struct{}), taken: map[string]bool{}}
	for _, s := range subs {
		p.ch <- s
	}
	p.live.Store(int64(len(subs)))
	if len(subs) == 0 {
		close(p.exhausted)
	}
	return p
}

// take waits for a free subscriber; false when done closes or every
// subscriber is retired.
func (p *pool) take(done <-chan struct{}) (*loadSubscriber, bool) {
	select {
	case s := <-p.ch:
		p.mu.Lock()
		p.taken[s.msisdn] = true
		p.mu.Unlock()
		return s, true
	case <-done:
		return nil, false
	case <-p.exhausted:
		return nil, false
	}
}

// give returns a subscriber after a login: back in turn while it has SMS
// left and its last login succeeded. After a failure its inbox may hold an
// SMS no login read, which would mislead the next one: it is retired.
func (p *pool) give(s *loadSubscriber, ok bool) {
	if ok && s.uses < smsPerNumber {
		p.ch <- s
		return
	}
	if p.live.Add(-1) == 0 {
		p.once.Do(func() { close(p.exhausted) })
	}
}

// used is how many numbers took part in at least one login.
func (p *pool) used() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.taken)
}

// isExhausted reports whether every subscriber is retired.
func (p *pool) isExhausted() bool {
	select {
	case <-p.exhausted:
		return true
	default:
		return false
	}
}

// tryTake hands out a free subscriber without waiting; false when none is
// free now.
func (p *pool) tryTake() (*loadSubscriber, bool) {
	select {
	case s := <-p.ch:
		p.mu.Lock()
		p.taken[s.msisdn] = true
		p.mu.Unlock()
		return s, true
	default:
		return nil, false
	}
}
