package smpp_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/smsc"
)

const (
	sysID  = "mcfed"
	pass   = "s3cret"
	msisdn = "4915112345678"
)

type rig struct {
	srv *smsc.Server
	hs  *handset.Handset
}

func newRig(t *testing.T) *rig {
	t.Helper()
	hs := handset.New(handset.Options{})
	srv, err := smsc.Listen(smsc.Config{Addr: "127.0.0.1:0", SystemID: sysID, Password: pass, Deliverer: hs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &rig{srv: srv, hs: hs}
}

func (r *rig) config() smpp.Config {
	return smpp.Config{
		Addr: r.srv.Addr(), SystemID: sysID, Password: pass,
		SourceAddr: "MCFED", SourceTON: 5,
		Window: 4, EnquireLink: time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		SubmitTimeout: 3 * time.Second, DialTimeout: time.Second,
	}
}

func dial(t *testing.T, cfg smpp.Config) *smpp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := smpp.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubmitReachesHandsetWithReceipts(t *testing.T) {
	r := newRig(t)
	cfg := r.config()
	var mu sync.Mutex
	var receipts []smpp.Receipt
	cfg.OnReceipt = func(rc smpp.Receipt) {
		mu.Lock()
		receipts = append(receipts, rc)
		mu.Unlock()
	}
	c := dial(t, cfg)
	if !c.Connected() {
		t.Fatal("not connected after Dial")
	}
	long := strings.Repeat("Your mcfed code is 123456 {ok} €5 ", 12) // > 160 GSM septets, escape characters
	texts := []struct {
		text   string
		coding smpp.Coding
		parts  int
	}{
		{"Your mcfed code is 123456", smpp.CodingGSM7, 1},
		{"Grüße 😀 — код 42: https://op.example/a?x=1&y=<2>", smpp.CodingUCS2, 1},
		{long, smpp.CodingGSM7, 3},
		{strings.Repeat("Подтвердите вход в банк. ", 6), smpp.CodingUCS2, 3},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range texts {
		if coding, parts := smpp.Plan(tc.text); coding != tc.coding || parts != tc.parts {
			t.Errorf("Plan(%.20q) = %s, %d; want %s, %d", tc.text, coding, parts, tc.coding, tc.parts)
		}
		id, err := c.Submit(ctx, "+"+msisdn, tc.text)
		if err != nil {
			t.Fatalf("Submit(%.20q): %v", tc.text, err)
		}
		m, err := r.hs.WaitFor(ctx, msisdn, func(m handset.Message) bool { return m.SMSCID == id })
		if err != nil {
			t.Fatalf("handset never got %s: %v", id, err)
		}
		if m.Text != tc.text {
			t.Errorf("handset text\n got %q\nwant %q", m.Text, tc.text)
		}
		if m.From != "MCFED" {
			t.Errorf("from = %q", m.From)
		}
		eventually(t, "DELIVRD receipt for "+id, 3*time.Second, func() bool {
			st, ok := c.Status(id)
			return ok && st.State == smpp.StateDelivered && st.Delivered == tc.parts
		})
		st, _ := c.Status(id)
		if len(st.PartIDs) != tc.parts || st.To != msisdn {
			t.Errorf("status = %+v", st)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := 1 + 1 + 3 + 3; len(receipts) != want {
		t.Errorf("%d receipts via callback, want %d", len(receipts), want)
	}
	for _, rc := range receipts {
		if rc.State != smpp.StateDelivered || rc.MessageID == "" || rc.PartID == "" || !strings.Contains(rc.Text, "stat:DELIVRD") {
			t.Errorf("receipt %+v", rc)
		}
	}
}

// TestStatusIsForgottenAfterTrackFor: a message's delivery status is kept
// for TrackFor after its submission and then dropped, with no other
// message coming to push it out: a node does not hold what every login
// sent.
func TestStatusIsForgottenAfterTrackFor(t *testing.T) {
	r := newRig(t)
	cfg := r.config()
	cfg.TrackFor = 300 * time.Millisecond
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := c.Submit(ctx, "+"+msisdn, "Your mcfed code is 123456")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Status(id); !ok {
		t.Fatal("no status right after the submission")
	}
	eventually(t, "the status of "+id+" to be forgotten", 5*time.Second, func() bool {
		_, ok := c.Status(id)
		return !ok
	})
}

func TestWrongPasswordRefused(t *testing.T) {
	r := newRig(t)
	cfg := r.config()
	cfg.Password = "wrong"
	c, err := smpp.Dial(context.Background(), cfg)
	if err == nil {
		_ = c.Close()
		t.Fatal("bind with a wrong password succeeded")
	}
	var be *smpp.BindError
	if !errors.As(err, &be) || be.Name != "ESME_RINVPASWD" || be.Status != 0x0E {
		t.Fatalf("err = %v (%T), want BindError ESME_RINVPASWD", err, err)
	}
	if !strings.Contains(err.Error(), "Invalid Password") {
		t.Errorf("error text not clear: %v", err)
	}
	if got := r.srv.Stats().BindRefusals; got != 1 {
		t.Errorf("refusals = %d", got)
	}

	// New (background) reports the refusal as its state and Submit fails fast.
	c2, err := smpp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	eventually(t, "bind error in state", 2*time.Second, func() bool { return errors.As(c2.LastError(), &be) })
	if _, err := c2.Submit(context.Background(), msisdn, "x"); !errors.Is(err, smpp.ErrNotConnected) {
		t.Errorf("Submit while refused: %v", err)
	}
}

func TestSMSCGoesAwayAndComesBack(t *testing.T) {
	r := newRig(t)
	var changes sync.Map
	cfg := r.config()
	cfg.OnStateChange = func(s smpp.State) { changes.Store(s.Connected, true) }
	c := dial(t, cfg)
	ctx := context.Background()
	if _, err := c.Submit(ctx, msisdn, "before"); err != nil {
		t.Fatal(err)
	}
	addr := r.srv.Addr()
	down := time.Now()
	if err := r.srv.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "client to notice the SMSC went away", 3*time.Second, func() bool { return !c.Connected() })
	t.Logf("SMSC closed -> Connected() false in %v", time.Since(down))
	start := time.Now()
	_, err := c.Submit(ctx, msisdn, "while down")
	if !errors.Is(err, smpp.ErrNotConnected) {
		t.Fatalf("Submit while SMSC down: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Submit while down took %v, want fast failure", d)
	}
	var nce *smpp.NotConnectedError
	if !errors.As(err, &nce) || nce.Addr != addr {
		t.Errorf("not a NotConnectedError for %s: %#v", addr, err)
	}
	if c.State().LastError == nil {
		t.Error("no last error while disconnected")
	}
	time.Sleep(300 * time.Millisecond) // a few failed reconnects
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	if r.srv.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", r.srv.Addr(), addr)
	}
	up := time.Now()
	eventually(t, "client to reconnect", 3*time.Second, c.Connected)
	t.Logf("SMSC restarted -> Connected() true in %v (back-off 50-200 ms)", time.Since(up))
	id, err := c.Submit(ctx, msisdn, "after")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.hs.WaitFor(ctx, msisdn, func(m handset.Message) bool { return m.SMSCID == id && m.Text == "after" }); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if !st.Connected || st.LastError != nil || st.Reconnects != 1 {
		t.Errorf("state after reconnect = %+v", st)
	}
	if _, ok := changes.Load(false); !ok {
		t.Error("no OnStateChange(disconnected)")
	}
}

func TestWindowBoundsOutstanding(t *testing.T) {
	r := newRig(t)
	r.srv.SetResponseDelay(150 * time.Millisecond)
	cfg := r.config()
	cfg.Window = 3
	c := dial(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	start := time.Now()
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Submit(ctx, msisdn, "window test")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	st := r.srv.Stats()
	if st.MaxInFlight != 3 {
		t.Errorf("max outstanding at the SMSC = %d, want 3 (the window)", st.MaxInFlight)
	}
	if el < 4*150*time.Millisecond { // ceil(10/3) rounds of 150 ms
		t.Errorf("10 submits through a window of 3 took %v, faster than the window allows", el)
	}
	t.Logf("10 submits, window 3, 150 ms per response: %v, max in flight %d", el, st.MaxInFlight)

	// A full window makes Submit wait, and the wait honours ctx.
	r.srv.SetResponseDelay(time.Second)
	var hold sync.WaitGroup
	for i := 0; i < 3; i++ {
		hold.Add(1)
		go func() { defer hold.Done(); _, _ = c.Submit(context.Background(), msisdn, "slow") }()
	}
	eventually(t, "window full", time.Second, func() bool { return r.srv.Stats().InFlight == 3 })
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := c.Submit(short, msisdn, "waits"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Submit with a full window: %v, want deadline exceeded", err)
	}
	hold.Wait()
}

func TestSubmitErrors(t *testing.T) {
	r := newRig(t)
	cfg := r.config()
	cfg.MaxParts = 2
	c := dial(t, cfg)
	ctx := context.Background()
	if _, err := c.Submit(ctx, msisdn, strings.Repeat("x", 3*153)); !errors.Is(err, smpp.ErrTooLong) {
		t.Errorf("too long: %v", err)
	}
	for _, to := range []string{"12ab", "015112345678"} {
		if _, err := c.Submit(ctx, to, "x"); !errors.Is(err, smpp.ErrBadAddress) {
			t.Errorf("bad address %q: %v", to, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Submit(done, msisdn, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	_ = c.Close()
	if _, err := c.Submit(ctx, msisdn, "x"); !errors.Is(err, smpp.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := smpp.Config{Addr: "127.0.0.1:2775", SystemID: "id", Password: "pw"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*smpp.Config)
	}{
		{"Addr", func(c *smpp.Config) { c.Addr = "" }},
		{"Addr", func(c *smpp.Config) { c.Addr = "nohostport" }},
		{"SystemID", func(c *smpp.Config) { c.SystemID = "" }},
		{"SystemID", func(c *smpp.Config) { c.SystemID = strings.Repeat("a", 16) }},
		{"Password", func(c *smpp.Config) { c.Password = "123456789" }},
		{"Bind", func(c *smpp.Config) { c.Bind = "receiver" }},
		{"Window", func(c *smpp.Config) { c.Window = 300 }},
		{"ReconnectMax", func(c *smpp.Config) { c.ReconnectMin, c.ReconnectMax = time.Second, time.Millisecond }},
		{"SourceAddr", func(c *smpp.Config) { c.SourceTON, c.SourceAddr = 5, "TwelveLetter" }},
		{"MaxParts", func(c *smpp.Config) { c.MaxParts = -1 }},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		var ce *smpp.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
		if _, err := smpp.New(c); err == nil {
			t.Errorf("%s: New accepted a bad config", tc.field)
		}
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		text   string
		coding smpp.Coding
		parts  int
	}{
		{strings.Repeat("a", 160), smpp.CodingGSM7, 1},
		{strings.Repeat("a", 161), smpp.CodingGSM7, 2},
		{strings.Repeat("€", 80), smpp.CodingGSM7, 1}, // escape: 2 septets each
		{strings.Repeat("€", 81), smpp.CodingGSM7, 2},
		{strings.Repeat("ж", 70), smpp.CodingUCS2, 1},
		{strings.Repeat("ж", 71), smpp.CodingUCS2, 2},
		{strings.Repeat("😀", 35), smpp.CodingUCS2, 1}, // surrogate pairs
		{strings.Repeat("😀", 36), smpp.CodingUCS2, 2},
	} {
		if c, n := smpp.Plan(tc.text); c != tc.coding || n != tc.parts {
			t.Errorf("Plan(%d × %q) = %s, %d; want %s, %d", len([]rune(tc.text)), []rune(tc.text)[0], c, n, tc.coding, tc.parts)
		}
	}
}
