package idgw

import (
	"net/http"
	"strings"
	"testing"
)

// TestRepollHijackIsRefused: a caller who has the authorize URL of
// someone else's login (it carries no secret) and replays it, without the
// login-binding cookie or with its own, gets an OAuth error page and
// nothing of the login, before and after the person answered on the phone;
// the login goes on and its owner gets the code, in a browser (the
// continue URL) as in a headless SDK's re-poll.
func TestRepollHijackIsRefused(t *testing.T) {
	for _, owner := range []string{"browser", "headless SDK"} {
		t.Run(owner, func(t *testing.T) {
			f := newSSOFixture(t, "https://red.example/")
			f.phone.answer(redNumber, Pending)
			cont, binding := f.startLogin(nil, "state", "victim")
			if binding == nil {
				t.Fatal("the first answer set no login-binding cookie")
			}
			// The attacker's own login-binding cookie, from a login of its
			// own at this gateway.
			_, own := f.startLogin(nil, "state", "attacker", "login_hint", "MSISDN:"+strings.TrimPrefix(red2Number, "+"))
			hijack := func(when string) {
				t.Helper()
				for _, c := range []*http.Cookie{nil, own} {
					resp, body := f.get(authorizeURL("state", "victim"), c)
					if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "invalid_request") ||
						strings.Contains(body, "session=") || strings.Contains(body, "code=") {
						t.Fatalf("%s, a replay with cookie %v: %d %q %.200s", when, c, resp.StatusCode, resp.Header.Get("Location"), body)
					}
				}
			}
			hijack("before the answer")
			f.phone.answer(redNumber, Succeeded)
			hijack("after the answer")

			var code string
			switch owner {
			case "browser":
				code, _ = f.finishLogin(cont, binding)
			default:
				resp, _ := f.get(authorizeURL("state", "victim"), binding)
				q := redirectParams(t, resp.Header.Get("Location"))
				if resp.StatusCode != 302 || q.Get("state") != "victim" {
					t.Fatalf("the owner's re-poll: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				code = q.Get("code")
			}
			if sub := f.idToken(code).Sub; sub == "" {
				t.Fatal("the owner's code gave no subject")
			}
		})
	}
}
