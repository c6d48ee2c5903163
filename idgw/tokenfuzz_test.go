package idgw

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzTokenForm posts arbitrary bodies and Authorization headers to the
// token endpoint: it never fails with a server error or panics, and every
// answer is JSON, either tokens or an OAuth error.
func FuzzTokenForm(f *testing.F) {
	fx := newTokenFixture(f)
	fx.g.failures = newFailureBudgets(FailureBudget{PerClient: Throttle{Rate: 1e9, Burst: 1 << 30},
		PerAddress: Throttle{Rate: 1e9, Burst: 1 << 30}}, fx.g.now)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("shop:"+shopSecret))
	f.Add("grant_type=authorization_code&code="+fx.code()+"&redirect_uri="+shopCB, basic)
	f.Add("grant_type=refresh_token&refresh_token=x&client_id=shop&client_secret="+shopSecret, "")
	f.Add("grant_type=authorization_code&code=a&code=b", basic)
	f.Add("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.", "")
	f.Add("%zz=1&grant_type=%", "Basic %%%")
	f.Add("code_verifier="+strings.Repeat("a", 200), "Basic "+base64.StdEncoding.EncodeToString([]byte("shop%3A:x")))
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest("POST", "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" && !strings.ContainsAny(auth, "\r\n\x00") {
			req.Header.Set("Authorization", auth)
		}
		resp, err := fx.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%d: not JSON: %v", resp.StatusCode, err)
		}
		switch resp.StatusCode {
		case 200:
			if out["access_token"] == nil {
				t.Fatalf("200 without a token: %v", out)
			}
		case 400, 401, 429:
			if _, ok := out["error"].(string); !ok {
				t.Fatalf("%d without an OAuth error: %v", resp.StatusCode, out)
			}
		default:
			t.Fatalf("status %d: %v", resp.StatusCode, out)
		}
	})
}
