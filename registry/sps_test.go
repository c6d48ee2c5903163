package registry

import (
	"strings"
	"testing"
)

func TestCheckRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://shop.example/cb",
		"https://shop.example:8443/cb?x=1",
		"http://127.0.0.1:8080/cb",
		"http://[::1]:8080/cb",
		"http://localhost/cb",
		"com.example.app:/oauth2redirect",
		"com.example.app://cb",
	} {
		if err := CheckRedirectURI(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, c := range []struct{ uri, why string }{
		{"javascript:alert(1)", "javascript: scheme"},
		{"data:text/html,<script>alert(1)</script>", "data: scheme"},
		{"file:///etc/passwd", "file: scheme"},
		{"http://shop.example/cb", "loopback"},
		{"http://127.0.0.1.evil.example/cb", "loopback"},
		{"https://*.shop.example/cb", "wildcard"},
		{"https://shop.example/*", "wildcard"},
		{"*", "absolute"},
		{"https://shop.example/cb#", "fragment"},
		{"https://shop.example/cb#frag", "fragment"},
		{"https://user:pw@shop.example/cb", "userinfo"},
		{"https://shop.example@evil.example/cb", "userinfo"},
		{"myapp:/cb", "reverse-DNS"},
	} {
		err := CheckRedirectURI(c.uri)
		if err == nil || CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), c.uri) {
			t.Errorf("%s: got %v, want a refusal naming the URI and %q", c.uri, err, c.why)
		}
	}
}

// The rule is for new writes: an SP an older log registered with a URI the
// rule refuses still applies (a replay or a follower catching up must not
// fail), and the migration check lists it.
func TestOldRedirectURIsReplayAndAreListed(t *testing.T) {
	f := newFixture(t)
	old := ServiceProvider{ClientID: "legacy", Name: "Legacy", SecretHash: HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"https://legacy.example/cb", "http://legacy.example/cb", "javascript:alert(1)"},
		Operators:    []string{AllOperators}, Status: StatusActive}
	f.must(CmdPutSP, old)
	good := old
	good.ClientID, good.RedirectURIs = "good", []string{"https://good.example/cb"}
	f.must(CmdPutSP, good)

	p := f.r.RedirectChecks("", 0)
	if len(p.Items) != 1 || p.Items[0].ClientID != "legacy" || len(p.Items[0].Refused) != 2 ||
		p.Items[0].Refused[0].RedirectURI != "http://legacy.example/cb" || p.Items[0].Refused[1].RedirectURI != "javascript:alert(1)" {
		t.Fatalf("migration check: %+v", p.Items)
	}
	if err := f.r.ServiceProvider("legacy").CheckRedirectURIs(); err == nil || !strings.Contains(err.Error(), "http://legacy.example/cb") {
		t.Fatalf("CheckRedirectURIs: %v", err)
	}
}

// TestLogoutRegistration: post_logout_redirect_uris are held to the rules
// of redirect_uris (lenient at apply, strict for new writes), and a
// back-channel logout URI must be an https URL without a fragment (http
// only to loopback); session_required needs the URI.
func TestLogoutRegistration(t *testing.T) {
	f := newFixture(t)
	base := ServiceProvider{ClientID: "rp", Name: "RP", SecretHash: HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"https://rp.example/cb"}, Operators: []string{AllOperators}, Status: StatusActive}
	ok := base
	ok.PostLogoutRedirectURIs = []string{"https://rp.example/bye", "com.example.rp:/bye"}
	ok.BackchannelLogoutURI, ok.BackchannelLogoutSessionRequired = "https://rp.example/bcl", true
	if err := ok.CheckRedirectURIs(); err != nil {
		t.Fatalf("a good registration refused: %v", err)
	}
	f.must(CmdPutSP, ok)
	if got := f.r.ServiceProvider("rp"); got.BackchannelLogoutURI != ok.BackchannelLogoutURI || len(got.PostLogoutRedirectURIs) != 2 || !got.BackchannelLogoutSessionRequired {
		t.Fatalf("stored: %+v", got)
	}
	loop := base
	loop.BackchannelLogoutURI = "http://127.0.0.1:9000/bcl"
	if err := loop.CheckRedirectURIs(); err != nil {
		t.Fatalf("loopback http refused: %v", err)
	}
	for _, c := range []struct {
		name   string
		edit   func(sp *ServiceProvider)
		strict bool // refused only by the rule for new writes
		why    string
	}{
		{"post-logout fragment", func(sp *ServiceProvider) { sp.PostLogoutRedirectURIs = []string{"https://rp.example/bye#x"} }, false, "fragment"},
		{"post-logout relative", func(sp *ServiceProvider) { sp.PostLogoutRedirectURIs = []string{"/bye"} }, false, "absolute"},
		{"post-logout plain http", func(sp *ServiceProvider) { sp.PostLogoutRedirectURIs = []string{"http://rp.example/bye"} }, true, "loopback"},
		{"post-logout javascript", func(sp *ServiceProvider) { sp.PostLogoutRedirectURIs = []string{"javascript:alert(1)"} }, true, "javascript"},
		{"back-channel fragment", func(sp *ServiceProvider) { sp.BackchannelLogoutURI = "https://rp.example/bcl#f" }, false, "fragment"},
		{"back-channel not http", func(sp *ServiceProvider) { sp.BackchannelLogoutURI = "ftp://rp.example/bcl" }, false, "http(s)"},
		{"back-channel plain http", func(sp *ServiceProvider) { sp.BackchannelLogoutURI = "http://rp.example/bcl" }, true, "loopback"},
		{"back-channel userinfo", func(sp *ServiceProvider) { sp.BackchannelLogoutURI = "https://u:p@rp.example/bcl" }, true, "userinfo"},
		{"session required without a URI", func(sp *ServiceProvider) { sp.BackchannelLogoutSessionRequired = true }, false, "backchannel_logout_uri"},
	} {
		sp := base
		c.edit(&sp)
		err := sp.CheckRedirectURIs()
		if !c.strict {
			err = sp.Validate()
		}
		if err == nil || CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: got %v, want a refusal about %q", c.name, err, c.why)
		}
	}
}
