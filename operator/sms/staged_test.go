package sms_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// flakySender is a Sender whose SMSC can be down.
type flakySender struct {
	mu    sync.Mutex
	down  bool
	texts []string
}

func (f *flakySender) Submit(_ context.Context, _, text string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", errors.New("the SMSC is down")
	}
	f.texts = append(f.texts, text)
	return "id", nil
}

func (f *flakySender) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// TestStagedStart: a staged start (the gateway writes the challenge's
// records with the login's session) sends nothing until the records are
// written and Deliver is called; the code it sends then succeeds. A
// delivery that fails, or a start abandoned because the records could not
// be written, does not count against the number's send limit.
func TestStagedStart(t *testing.T) {
	store := openStore(t, "", nil)
	sender := &flakySender{}
	a, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example", Store: store}, sender)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch := idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: "https://op.example/authorize/continue?session=s", Staged: true}

	st, err := a.Start(ctx, ch)
	if err != nil || len(st.Records) == 0 || st.Deliver == nil || st.Abandon == nil {
		t.Fatalf("staged start: %+v %v, want records, Deliver and Abandon", st, err)
	}
	if n := len(sender.sent()); n != 0 {
		t.Fatalf("%d SMS sent before the records were written", n)
	}
	if out, err := a.Check(ctx, st.State, nil); err != nil || out.Status != idgw.Failed {
		t.Fatalf("the challenge before its records were written: %+v %v, want it unknown (failed)", out, err)
	}
	if err := store.Batch(ctx, st.Records...); err != nil {
		t.Fatal(err)
	}
	if err := st.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	texts := sender.sent()
	if len(texts) != 1 {
		t.Fatalf("%d SMS sent, want 1", len(texts))
	}
	out, err := a.Check(ctx, st.State, url.Values{"otp": {sixDigits.FindString(texts[0])}})
	if err != nil || out.Status != idgw.Succeeded {
		t.Fatalf("the code sent: %+v %v, want success", out, err)
	}

	// The SMSC down: the delivery fails as unavailable (the gateway tries
	// the next authenticator), and the send is given back.
	sender.mu.Lock()
	sender.down = true
	sender.mu.Unlock()
	st, err = a.Start(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Batch(ctx, st.Records...); err != nil {
		t.Fatal(err)
	}
	if err := st.Deliver(ctx); !errors.Is(err, idgw.ErrUnavailable) {
		t.Fatalf("delivery with the SMSC down: %v, want ErrUnavailable", err)
	}
	sender.mu.Lock()
	sender.down = false
	sender.mu.Unlock()
	// Records that could not be written: the start is abandoned.
	if st, err = a.Start(ctx, ch); err != nil {
		t.Fatal(err)
	}
	st.Abandon(ctx)

	// One SMS sent so far: four more within the limit of five, not more.
	ch.Staged = false
	for i := range 4 {
		if _, err := a.Start(ctx, ch); err != nil {
			t.Fatalf("start %d after a failed and an abandoned one: %v", i+2, err)
		}
	}
	if _, err := a.Start(ctx, ch); !errors.Is(err, sms.ErrSendLimit) {
		t.Fatalf("the sixth send: %v, want ErrSendLimit", err)
	}
}
