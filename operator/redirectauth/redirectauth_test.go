package redirectauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// rig is the adaptor over a real bbolt store, with the external
// authenticator's key to answer with.
type rig struct {
	a   *Authenticator
	ext *jose.Key
	now time.Time
}

func newRig(t *testing.T) *rig {
	r := &rig{now: time.Now()}
	// The store's clock is the adaptor's: the request's TTL runs out in
	// the test's time.
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	op, _ := jose.GenerateKey(jose.ES256)
	ext, _ := jose.GenerateKey(jose.EdDSA)
	set, err := jose.ParseJWKS([]byte(`{"keys":[` + string(ext.Public()) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	r.ext = ext
	r.a, err = New(Config{Name: "push", LoA: 3, AMR: []string{"PUSH_OK"}, URL: "https://push.example/auth?tenant=red",
		PublicURL: "https://gw.example", SigningKey: op, AnswerKeys: set, SendMSISDN: true, Store: st,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// start begins a challenge and returns its state and the request's claims.
func (r *rig) start(t *testing.T) ([]byte, map[string]any) {
	t.Helper()
	st, err := r.a.Start(context.Background(), idgw.Challenge{MSISDN: 447400111222, SPName: "Shop", Number: "+44 7400 ••• 222",
		ReturnURL: "https://gw.example/authorize/continue?session=s1", Browser: true})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(st.RedirectURL)
	if u.Query().Get("tenant") != "red" {
		t.Fatalf("the external URL's own query was lost: %s", st.RedirectURL)
	}
	payload, err := jose.UnverifiedPayload(u.Query().Get("request"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	return st.State, c
}

func (r *rig) answer(t *testing.T, claims map[string]any) (string, error) {
	t.Helper()
	tok, err := jose.SignTyped(r.ext, AnswerTyp, claims)
	if err != nil {
		t.Fatal(err)
	}
	return r.a.Answer(context.Background(), tok)
}

// TestAnswers: each answer decides its challenge as Check then reports:
// ok succeeds once; refused ends it refused; an answer for another
// number, or dated in the future, fails it; an answer with another typ,
// issuer or audience is refused and leaves the challenge pending; with
// none, the challenge is pending until its request expires.
func TestAnswers(t *testing.T) {
	r := newRig(t)
	base := func(req map[string]any) map[string]any {
		return map[string]any{"iss": "https://push.example/auth?tenant=red", "aud": "https://gw.example", "nonce": req["nonce"],
			"iat": r.now.Unix(), "result": "ok"}
	}
	check := func(st []byte) idgw.Outcome {
		t.Helper()
		out, err := r.a.Check(context.Background(), st, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		name    string
		edit    func(map[string]any)
		status  idgw.OutcomeStatus
		failure idgw.Failure
	}{
		{"ok", func(map[string]any) {}, idgw.Succeeded, 0},
		{"ok, aud an array, its msisdn", func(m map[string]any) { m["aud"] = []string{"x", "https://gw.example"}; m["msisdn"] = "+447400111222" }, idgw.Succeeded, 0},
		{"refused", func(m map[string]any) { m["result"] = "refused" }, idgw.Failed, idgw.FailureRefused},
		{"another number", func(m map[string]any) { m["msisdn"] = "+447400111333" }, idgw.Failed, idgw.FailureOther},
		{"from the future", func(m map[string]any) { m["iat"] = r.now.Add(5 * time.Minute).Unix() }, idgw.Failed, idgw.FailureOther},
		{"stale", func(m map[string]any) { m["iat"] = r.now.Add(-3 * time.Minute).Unix() }, idgw.Failed, idgw.FailureExpired},
	} {
		st, req := r.start(t)
		if req["msisdn"] != "+447400111222" || req["iss"] != "https://gw.example" || req["return_url"] != "https://gw.example/redirect-auth/push/return" {
			t.Fatalf("the request: %+v", req)
		}
		if out := check(st); out.Status != idgw.Pending {
			t.Fatalf("%s: before the answer: %+v", c.name, out)
		}
		claims := base(req)
		c.edit(claims)
		next, err := r.answer(t, claims)
		if err != nil || next != "https://gw.example/authorize/continue?session=s1" {
			t.Fatalf("%s: %q %v", c.name, next, err)
		}
		if out := check(st); out.Status != c.status || out.Failure != c.failure {
			t.Errorf("%s: %+v", c.name, out)
		}
		if out := check(st); out.Status != idgw.Failed || out.Failure != idgw.FailureExpired {
			t.Errorf("%s: a second Check: %+v", c.name, out)
		}
	}
	for _, c := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"another issuer", func(m map[string]any) { m["iss"] = "https://evil.example" }},
		{"another audience", func(m map[string]any) { m["aud"] = "https://other-gw.example" }},
		{"no nonce", func(m map[string]any) { delete(m, "nonce") }},
	} {
		st, req := r.start(t)
		claims := base(req)
		c.edit(claims)
		if _, err := r.answer(t, claims); !errors.Is(err, ErrBadAnswer) {
			t.Errorf("%s: %v", c.name, err)
		}
		if out := check(st); out.Status != idgw.Pending {
			t.Errorf("%s: the challenge after a bad answer: %+v", c.name, out)
		}
	}
	// An ID-token-typed JWS of the same key is not an answer.
	st, req := r.start(t)
	tok, _ := jose.SignTyped(r.ext, "JWT", base(req))
	if _, err := r.a.Answer(context.Background(), tok); !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), "typ") {
		t.Errorf("another typ: %v", err)
	}
	// The request's time runs out: expired.
	r.now = r.now.Add(DefaultTTL + time.Second)
	if out := check(st); out.Status != idgw.Failed || out.Failure != idgw.FailureExpired {
		t.Errorf("after the request's TTL: %+v", out)
	}
	if _, err := r.answer(t, base(req)); !errors.Is(err, ErrSpentAnswer) {
		t.Errorf("an answer after the TTL: %v", err)
	}
}

// TestConfig: every missing or bad setting is said, together.
func TestConfig(t *testing.T) {
	_, err := New(Config{Name: "Push App", LoA: 5, URL: "ftp://x"})
	for _, want := range []string{"name", "loa 5", "amr is required", "not an http(s) URL", "public URL", "signing key", "public keys", "state store"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if _, err := (&Authenticator{}).Start(context.Background(), idgw.Challenge{}); !errors.Is(err, idgw.ErrUnavailable) {
		t.Errorf("a headless login: %v", err)
	}
}
