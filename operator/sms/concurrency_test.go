package sms_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// Concurrent answers with the right code on one state succeed once, and
// concurrent Starts for one number send SendLimit SMS, no more.
func TestConcurrentSingleUseAndLimit(t *testing.T) {
	s := &fakeSender{}
	a, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example", Store: openStore(t, "", nil)}, s)
	if err != nil {
		t.Fatal(err)
	}
	ch := idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: "https://op.example/authorize/continue?session=1"}
	st, err := a.Start(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile(`: ([0-9]{6})\n`).FindStringSubmatch(s.texts[0])[1]
	var wins, limited atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			out, err := a.Check(context.Background(), st.State, url.Values{"otp": {code}})
			if err == nil && out.Status == idgw.Succeeded {
				wins.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := a.Start(context.Background(), ch); errors.Is(err, sms.ErrSendLimit) {
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d successes with one code", wins.Load())
	}
	// One SMS went out before the race: 4 more pass, 16 are refused.
	if limited.Load() != 16 || len(s.texts) != 5 {
		t.Fatalf("%d refused, %d sent", limited.Load(), len(s.texts))
	}
}
