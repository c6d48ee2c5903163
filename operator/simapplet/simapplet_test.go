package simapplet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/mssp"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

const (
	number  = "+447400111222"
	msisdn  = uint64(447400111222)
	apID    = "red-gateway"
	apPwd   = "mssp-secret"
	rightPI = "1234"
)

// rig is the adaptor against the dev MSSP over loopback HTTP, the MSSP
// reaching a simulated SIM over OTA, and a real embedded state store.
// Each hop can be tampered with: the OTA packets both ways, and the
// MSSP's answers to the adaptor (through a proxy).
type rig struct {
	t       *testing.T
	hs      *handset.Handset
	mssp    *mssp.Server
	auth    *Authenticator
	ok, pin idgw.Authenticator
	card    handset.SIMCard

	mu       sync.Mutex
	toSIM    func([]byte) []byte                       // tampers command packets
	fromSIM  func([]byte) []byte                       // tampers response packets
	response func(req mss.Request, body []byte) []byte // rewrites the MSSP's answers
}

type rigOptions struct {
	ed25519  bool
	mssWrong bool // the MSSP holds another key than the SIM's
	mssURL   string
	timeout  time.Duration
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, hs: handset.New(handset.Options{})}
	var err error
	r.mssp, err = mssp.Listen("127.0.0.1:0", mssp.Config{APID: apID, APPassword: apPwd, Link: linkFunc(func(m string, p []byte) error {
		if f := r.tamper(&r.toSIM); f != nil {
			p = f(p)
		}
		return r.hs.SendToSIM(m, p)
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.mssp.Close() })
	r.hs.ConnectMSSP(func(m string, p []byte) {
		if f := r.tamper(&r.fromSIM); f != nil {
			p = f(p)
		}
		r.mssp.FromSIM(m, p)
	})
	if r.card, err = r.hs.AddSIM(number, handset.SIMConfig{Ed25519: o.ed25519}); err != nil {
		t.Fatal(err)
	}
	enrolled := r.card.PublicKey
	if o.mssWrong {
		other, _ := handset.New(handset.Options{}).AddSIM(number, handset.SIMConfig{})
		enrolled = other.PublicKey
	}
	if err := r.mssp.Enrol(number, enrolled, r.card.OTAKey); err != nil {
		t.Fatal(err)
	}
	// The adaptor reaches the MSSP through a proxy that may rewrite its
	// answers, as a compromised MSSP or network could.
	proxy := httptest.NewServer(http.HandlerFunc(r.proxy))
	t.Cleanup(proxy.Close)
	url := proxy.URL + "/rest/service"
	if o.mssURL != "" {
		url = o.mssURL
	}
	client, err := mss.NewClient(mss.ClientConfig{URL: url, APID: apID, APPassword: apPwd, Timeout: o.timeout})
	if err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(t.TempDir()+"/state.db", state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if r.auth, err = New(Config{}, client, store); err != nil {
		t.Fatal(err)
	}
	if err := r.auth.Enrolments().Put(context.Background(), msisdn, SIM{PublicKey: r.card.PublicKey,
		Capabilities: []string{CapabilityOK, CapabilityPIN}}); err != nil {
		t.Fatal(err)
	}
	regs := r.auth.Registrations()
	if len(regs) != 2 || regs[0].Info.LoA != 2 || regs[1].Info.LoA != 3 {
		t.Fatalf("registrations %+v", regs)
	}
	r.ok, r.pin = regs[0].Impl, regs[1].Impl
	return r
}

type linkFunc func(string, []byte) error

func (f linkFunc) SendToSIM(m string, p []byte) error { return f(m, p) }

func (r *rig) tamper(f *func([]byte) []byte) func([]byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *f
}

func (r *rig) set(f *func([]byte) []byte, v func([]byte) []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*f = v
}

func (r *rig) proxy(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	resp, err := http.Post(r.mssp.URL(), "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	rewrite := r.response
	r.mu.Unlock()
	if rewrite != nil {
		var m mss.Request
		json.Unmarshal(body, &m)
		out = rewrite(m, out)
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func challenge() idgw.Challenge {
	return idgw.Challenge{MSISDN: msisdn, SPName: "Corner Shop", BindingMessage: "Pay 12 pounds"}
}

// start starts a challenge and waits for the SIM's prompt.
func (r *rig) start(a idgw.Authenticator) ([]byte, handset.SIMPrompt) {
	r.t.Helper()
	st, err := a.Start(context.Background(), challenge())
	if err != nil {
		r.t.Fatalf("start: %v", err)
	}
	if st.RedirectURL != "" {
		r.t.Fatalf("the SIM is out of band, not a page: %q", st.RedirectURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := r.hs.WaitForSIMPrompt(ctx, number)
	if err != nil {
		r.t.Fatalf("no prompt on the SIM: %v", err)
	}
	return st.State, p
}

func (r *rig) check(a idgw.Authenticator, st []byte) idgw.Outcome {
	r.t.Helper()
	out, err := a.Check(context.Background(), st, nil)
	if err != nil {
		r.t.Fatalf("check: %v", err)
	}
	return out
}

func (r *rig) answer(action, pin string) handset.SIMResult {
	r.t.Helper()
	res, err := r.hs.AnswerSIM(number, action, pin)
	if err != nil {
		r.t.Fatalf("answer %s: %v", action, err)
	}
	return res
}

// TestClickOKAndPIN: at LoA 2 the SIM asks OK, at LoA 3 its PIN, each
// prompt naming the SP and the binding message; the outcome's amr is what
// the SIM did; the same answer does not succeed twice.
func TestClickOKAndPIN(t *testing.T) {
	for _, ed := range []bool{false, true} {
		r := newRig(t, rigOptions{ed25519: ed})
		st, p := r.start(r.ok)
		if p.PIN || p.SPName != "Corner Shop" || p.Message != "Pay 12 pounds" {
			t.Fatalf("click-OK prompt %+v", p)
		}
		if out := r.check(r.ok, st); out.Status != idgw.Pending {
			t.Fatalf("before the answer: %+v", out)
		}
		if r.ok.(idgw.Watcher).Answered(st) {
			t.Fatal("the waiting page moves on before the SIM answered")
		}
		if _, err := r.hs.AnswerSIM(number, handset.SIMAnswerPIN, rightPI); !errors.Is(err, handset.ErrBadAnswer) {
			t.Fatalf("a PIN to an OK prompt: %v", err)
		}
		r.answer(handset.SIMAnswerOK, "")
		if !r.ok.(idgw.Watcher).Answered(st) {
			t.Fatal("the waiting page does not move on once the SIM answered")
		}
		if out := r.check(r.ok, st); out.Status != idgw.Succeeded || strings.Join(out.AMR, ",") != "SIM_OK" {
			t.Fatalf("click-OK (ed25519 %v): %+v", ed, out)
		}

		st, p = r.start(r.pin)
		if !p.PIN || p.TriesLeft != 3 {
			t.Fatalf("PIN prompt %+v", p)
		}
		if _, err := r.hs.AnswerSIM(number, handset.SIMAnswerOK, ""); !errors.Is(err, handset.ErrBadAnswer) {
			t.Fatalf("OK without the PIN: %v", err)
		}
		r.answer(handset.SIMAnswerPIN, rightPI)
		if out := r.check(r.pin, st); out.Status != idgw.Succeeded || strings.Join(out.AMR, ",") != "SIM_PIN" {
			t.Fatalf("PIN (ed25519 %v): %+v", ed, out)
		}
		if out := r.check(r.pin, st); out.Status != idgw.Failed || out.Failure != idgw.FailureUsed {
			t.Fatalf("the same answer twice: %+v", out)
		}
	}
}

// TestCancelOnThePhone: the person's cancel is the MSSP's 401 USER_CANCEL,
// a refusal.
func TestCancelOnThePhone(t *testing.T) {
	r := newRig(t, rigOptions{})
	st, _ := r.start(r.pin)
	r.answer(handset.SIMAnswerCancel, "")
	if out := r.check(r.pin, st); out.Status != idgw.Failed || out.Failure != idgw.FailureRefused {
		t.Fatalf("cancel: %+v", out)
	}
}

// TestTamperedSIMSignatureRefused: a signature the MSSP returns changed
// (by the MSSP or on the way) fails the gateway's own verification; a SIM
// whose signature does not verify with the key the MSSP holds is refused
// by the MSSP (503 INVALID_SIGNATURE).
func TestTamperedSIMSignatureRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.mu.Lock()
	r.response = func(req mss.Request, body []byte) []byte {
		var resp mss.Response
		if req.StatusReq == nil || json.Unmarshal(body, &resp) != nil || resp.StatusResp == nil || resp.StatusResp.MSSSignature == nil {
			return body
		}
		sig := []byte(resp.StatusResp.MSSSignature.Base64Signature)
		sig[10] ^= 0x01 // still base64, another signature
		resp.StatusResp.MSSSignature.Base64Signature = string(sig)
		out, _ := json.Marshal(resp)
		return out
	}
	r.mu.Unlock()
	st, _ := r.start(r.pin)
	r.answer(handset.SIMAnswerPIN, rightPI)
	if out := r.check(r.pin, st); out.Status != idgw.Failed || !strings.Contains(out.Reason, "does not verify") {
		t.Fatalf("a tampered signature: %+v", out)
	}

	forged := newRig(t, rigOptions{mssWrong: true})
	st, _ = forged.start(forged.pin)
	forged.answer(handset.SIMAnswerPIN, rightPI)
	if out := forged.check(forged.pin, st); out.Status != idgw.Failed || !strings.Contains(out.Reason, "did not confirm") {
		t.Fatalf("a SIM the MSSP cannot verify: %+v", out)
	}
}

// TestTamperedOTAPacketRefused: a command packet changed on its way to
// the SIM is refused by the SIM, a response packet changed on its way
// back by the MSSP: either is 209 OTA_ERROR, and the login fails.
func TestTamperedOTAPacketRefused(t *testing.T) {
	flip := func(p []byte) []byte {
		q := append([]byte{}, p...)
		q[len(q)-5] ^= 0x01
		return q
	}
	r := newRig(t, rigOptions{})
	r.set(&r.toSIM, flip)
	st, err := r.pin.Start(context.Background(), challenge())
	if err != nil {
		t.Fatal(err)
	}
	if _, shown := r.hs.SIMPrompt(number); shown {
		t.Fatal("the SIM showed a prompt from a tampered packet")
	}
	if out := r.check(r.pin, st.State); out.Status != idgw.Failed || !strings.Contains(out.Reason, "could not be read") {
		t.Fatalf("a tampered command packet: %+v", out)
	}

	r.set(&r.toSIM, nil)
	r.set(&r.fromSIM, flip)
	st2, _ := r.start(r.pin)
	r.answer(handset.SIMAnswerPIN, rightPI)
	if out := r.check(r.pin, st2); out.Status != idgw.Failed || !strings.Contains(out.Reason, "could not be read") {
		t.Fatalf("a tampered response packet: %+v", out)
	}
}

// TestReplayedSignatureResponseRefused: the MSSP's answer to an earlier
// transaction, replayed for a new one (its transaction id rewritten, as a
// forger would), does not verify over the new challenge's nonce; and an
// answer already used does not succeed again.
func TestReplayedSignatureResponseRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	var captured *mss.SignatureResp
	r.mu.Lock()
	r.response = func(req mss.Request, body []byte) []byte {
		var resp mss.Response
		if req.StatusReq == nil || json.Unmarshal(body, &resp) != nil || resp.StatusResp == nil {
			return body
		}
		if captured == nil && resp.StatusResp.MSSSignature != nil {
			c := *resp.StatusResp
			captured = &c
			return body
		}
		if captured != nil {
			replay := *captured
			replay.MSSPTransID = resp.StatusResp.MSSPTransID
			out, _ := json.Marshal(mss.Response{StatusResp: &replay})
			return out
		}
		return body
	}
	r.mu.Unlock()
	first, _ := r.start(r.pin)
	r.answer(handset.SIMAnswerPIN, rightPI)
	if out := r.check(r.pin, first); out.Status != idgw.Succeeded {
		t.Fatalf("the first login: %+v", out)
	}
	second, _ := r.start(r.pin)
	if out := r.check(r.pin, second); out.Status != idgw.Failed || !strings.Contains(out.Reason, "does not verify") {
		t.Fatalf("a replayed signature response: %+v", out)
	}
	if out := r.check(r.pin, first); out.Status != idgw.Failed || out.Failure != idgw.FailureUsed {
		t.Fatalf("the first answer again: %+v", out)
	}
}

// TestWrongPINPastTheLimit: the SIM counts wrong PINs and blocks at its
// limit (PIN_NR_BLOCKED): the challenge fails, the subscriber's PIN
// enrolment leaves routing, a PIN challenge no longer starts
// (unavailable, so routing falls back) while click-OK still does.
func TestWrongPINPastTheLimit(t *testing.T) {
	r := newRig(t, rigOptions{})
	st, _ := r.start(r.pin)
	for left := 2; left >= 1; left-- {
		if res := r.answer(handset.SIMAnswerPIN, "0000"); res.Status != "wrong_pin" || res.TriesLeft != left {
			t.Fatalf("wrong PIN: %+v, want %d left", res, left)
		}
		if p, ok := r.hs.SIMPrompt(number); !ok || p.Error == "" || p.TriesLeft != left {
			t.Fatalf("the prompt after a wrong PIN: %+v %v", p, ok)
		}
		if out := r.check(r.pin, st); out.Status != idgw.Pending {
			t.Fatalf("after a wrong PIN the person may try again: %+v", out)
		}
	}
	if res := r.answer(handset.SIMAnswerPIN, "0000"); res.Status != "blocked" {
		t.Fatalf("the last wrong PIN: %+v", res)
	}
	if out := r.check(r.pin, st); out.Status != idgw.Failed || out.Failure != idgw.FailureTooManyAttempts {
		t.Fatalf("PIN blocked: %+v", out)
	}
	types, err := r.auth.Enrolments().Types(context.Background(), msisdn)
	if err != nil || strings.Join(types, ",") != EnrolmentOK {
		t.Fatalf("routing's enrolments after the block: %v %v", types, err)
	}
	if _, err := r.pin.Start(context.Background(), challenge()); !errors.Is(err, idgw.ErrUnavailable) || !errors.Is(err, ErrPINBlocked) {
		t.Fatalf("a PIN challenge on a blocked SIM: %v", err)
	}
	if _, err := r.ok.Start(context.Background(), challenge()); err != nil {
		t.Fatalf("click-OK on a SIM whose PIN is blocked: %v", err)
	}
}

// TestMSSPDownIsUnavailableWithinABound: an MSSP that refuses connections,
// or accepts and never answers, makes Start fail with idgw.ErrUnavailable
// within the client's timeout.
func TestMSSPDownIsUnavailableWithinABound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + closed.Addr().String() + "/rest/service"
	closed.Close()
	for name, url := range map[string]string{"silent": "http://" + ln.Addr().String() + "/rest/service", "refusing": refused} {
		r := newRig(t, rigOptions{mssURL: url, timeout: 300 * time.Millisecond})
		begin := time.Now()
		_, err := r.pin.Start(context.Background(), challenge())
		if took := time.Since(begin); !errors.Is(err, idgw.ErrUnavailable) || took > 2*time.Second {
			t.Fatalf("%s MSSP: %v after %v", name, err, took)
		}
		// The next level, a moment later, does not wait again.
		begin = time.Now()
		_, err = r.ok.Start(context.Background(), challenge())
		if took := time.Since(begin); !errors.Is(err, ErrMSSPDown) || !errors.Is(err, idgw.ErrUnavailable) || took > 100*time.Millisecond {
			t.Fatalf("%s MSSP, again: %v after %v", name, err, took)
		}
	}
}
