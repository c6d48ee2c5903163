package idgw

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// stagedAuthenticator is an authenticator that stages its start
// (Challenge.Staged): its record is written by the gateway, and its
// delivery fails when down is set.
type stagedAuthenticator struct {
	store Store
	mu    sync.Mutex
	down  bool
	// staged and foundAtDelivery: the start was staged, and the record
	// was in the store when Deliver ran.
	staged, foundAtDelivery bool
	abandoned               bool
}

const stagedKind state.Kind = "test.staged"

func (a *stagedAuthenticator) Start(_ context.Context, ch Challenge) (Started, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.staged = ch.Staged
	key := []byte(fmt.Sprint(ch.MSISDN))
	st := Started{State: key,
		Records: []state.Op{{Kind: stagedKind, Key: key, Value: []byte("challenge"), Expires: time.Now().Add(time.Hour)}}}
	st.Deliver = func(ctx context.Context) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, err := a.store.Get(ctx, stagedKind, key)
		a.foundAtDelivery = err == nil
		if a.down {
			return fmt.Errorf("the message centre is down (%w)", ErrUnavailable)
		}
		return nil
	}
	st.Abandon = func(context.Context) { a.abandoned = true }
	return st, nil
}

func (a *stagedAuthenticator) Check(context.Context, []byte, url.Values) (Outcome, error) {
	return Outcome{Status: Pending}, nil
}

// TestStagedStart: the records of a staged start are written with the
// login's session, before its delivery; a delivery that fails hands the
// login to the next authenticator, which completes it.
func TestStagedStart(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprint("down=", down), func(t *testing.T) {
			staged := &stagedAuthenticator{down: down}
			phone := newPhone()
			g, app := flowGateway(t, subscriberMap{red(t): {MSISDN: red(t), Active: true}},
				Registration{AuthenticatorInfo{Name: "staged", LoA: 2, AMR: []string{"OTP_OK"}}, staged},
				Registration{AuthenticatorInfo{Name: "phone", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
			staged.store = g.cfg.Store
			target := authorizeURL("state", fmt.Sprint("staged-", down))
			if status, loc, _ := do(t, app, "GET", target, nil); status != 200 || loc != "" {
				t.Fatalf("the first answer: %d %q, want the waiting page", status, loc)
			}
			if !staged.staged || !staged.foundAtDelivery || staged.abandoned {
				t.Fatalf("staged %v, its record stored before the delivery %v, abandoned %v", staged.staged, staged.foundAtDelivery, staged.abandoned)
			}
			if n := liveCount(t, g, g.sessions.kind); n != 1 {
				t.Fatalf("%d sessions stored, want 1", n)
			}
			if !down {
				if phone.started != 0 {
					t.Fatal("the next authenticator started after a delivery that succeeded")
				}
				return
			}
			if phone.started != 1 {
				t.Fatalf("the next authenticator started %d times after the delivery failed, want 1", phone.started)
			}
			phone.answer(redNumber, Succeeded)
			if _, loc, _ := do(t, app, "GET", target, nil); redirectParams(t, loc).Get("code") == "" {
				t.Fatalf("the re-poll after the fallback answered: %q, want the code", loc)
			}
		})
	}
}
