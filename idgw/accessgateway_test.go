package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/budget"
)

// recordingSource is a data gateway for tests: it releases phone_number
// when the phone-number scope was granted and records what it was asked.
type recordingSource struct {
	last ClaimsQuery
	err  error
}

func (s *recordingSource) Claims(_ context.Context, q ClaimsQuery) (map[string]any, error) {
	s.last = q
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]any{}
	for _, sc := range q.Scopes {
		if sc == "mc_identity_phonenumber" {
			out["phone_number"] = "+447911123456"
		}
	}
	return out, nil
}

func (f *tokenFixture) get(path, auth string) (int, map[string]any, string, string) {
	f.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After")
}

func TestUserinfoAndPremiuminfo(t *testing.T) {
	f := newTokenFixture(t)
	src := &recordingSource{}
	f.g.cfg.Claims = src
	access, _ := f.tokens("u1")

	status, _, www, _ := f.get("/userinfo", "")
	if status != 401 || !strings.Contains(www, `error="invalid_request"`) || !strings.Contains(www, "No Access Token") {
		t.Fatalf("no token: %d %q", status, www)
	}
	if status, _, www, _ := f.get("/userinfo", "Bearer nope"); status != 401 || !strings.Contains(www, `error="invalid_token"`) {
		t.Fatalf("bad token: %d %q", status, www)
	}
	status, body, _, _ := f.get("/premiuminfo", "Bearer "+access)
	if status != 200 || body["sub"] == "" || body["sub"] == nil {
		t.Fatalf("premiuminfo: %d %v", status, body)
	}
	if src.last.Endpoint != "premiuminfo" || src.last.MSISDN != red(t) || strings.Join(src.last.Scopes, " ") != "openid mc_authn" {
		t.Fatalf("the data gateway was asked %+v", src.last)
	}
	if _, leaked := body["phone_number"]; leaked {
		t.Fatal("a claim of a scope that was not granted was released")
	}
	src.err = errors.New("CRM down")
	if status, _, _, _ := f.get("/userinfo", "Bearer "+access); status != 503 {
		t.Fatalf("attribute source down: %d", status)
	}
	src.err = ErrUnknownSubscriber // suspended since the token was issued
	if status, _, www, _ := f.get("/userinfo", "Bearer "+access); status != 401 || !strings.Contains(www, "invalid_token") {
		t.Fatalf("subscriber suspended: %d %q", status, www)
	}
	src.err = nil
	if f.revoke("shop", access) != 200 {
		t.Fatal("revocation failed")
	}
	if status, _, _, _ := f.get("/userinfo", "Bearer "+access); status != 401 {
		t.Fatalf("a revoked token was served: %d", status)
	}
}

func TestUserinfoIsThrottledPerClient(t *testing.T) {
	f := newTokenFixture(t)
	f.g.limiter = budget.New(Throttle{Rate: 0.5, Burst: 2}, Throttle{}, f.g.now)
	access, _ := f.tokens("t1")
	for i := range 2 {
		if status, _, _, _ := f.get("/userinfo", "Bearer "+access); status != 200 {
			t.Fatalf("call %d within the burst: %d", i+1, status)
		}
	}
	status, body, _, retry := f.get("/userinfo", "Bearer "+access)
	if status != 429 || retry == "" || retry == "0" || body["error"] == nil {
		t.Fatalf("over the limit: %d %v Retry-After %q", status, body, retry)
	}
}
