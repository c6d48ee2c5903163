package sms_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// TestDecoySendsNothingAndNeverSucceeds: a decoy challenge sends no SMS
// and spends no send limit, shows the code page a real challenge shows,
// and no code answers it: wrong codes count down to the same failure.
func TestDecoySendsNothingAndNeverSucceeds(t *testing.T) {
	s := &fakeSender{}
	a, err := sms.New(sms.Config{Mode: sms.ModeOTPURL, PublicURL: "https://op.example", SendLimit: 1, Store: openStore(t, "", nil)}, s)
	if err != nil {
		t.Fatal(err)
	}
	ch := idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: "https://op.example/authorize/continue?session=1"}
	var decoy idgw.Started
	for range 3 {
		if decoy, err = a.StartDecoy(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.texts) != 0 {
		t.Fatalf("a decoy sent %q", s.texts)
	}
	real, err := a.Start(context.Background(), ch)
	if err != nil || len(s.texts) != 1 {
		t.Fatalf("the send limit of 1 was spent by decoys: %v", err)
	}
	if len(decoy.State) != len(real.State) || !strings.HasPrefix(decoy.RedirectURL, "https://op.example/sms/otp?return=") ||
		strings.Count(decoy.RedirectURL, "&") != strings.Count(real.RedirectURL, "&") {
		t.Fatalf("the decoy's state or page differs: %q vs %q", decoy.RedirectURL, real.RedirectURL)
	}
	code := strings.Split(strings.SplitN(s.texts[0], ": ", 2)[1], "\n")[0]
	state := decoy.State
	for i := range 3 {
		out, err := a.Check(context.Background(), state, url.Values{"otp": {code}})
		if err != nil {
			t.Fatal(err)
		}
		state = out.State
		if i < 2 && out.Status != idgw.Pending || i == 2 && (out.Status != idgw.Failed || out.Failure != idgw.FailureTooManyAttempts) {
			t.Fatalf("attempt %d on a decoy: %+v", i+1, out)
		}
	}
}
