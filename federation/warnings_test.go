package federation

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
)

// TestUselessGatewaySaysSo: a gateway node with no authenticator, for an
// operator nobody registered, starts (its discovery serves) but says both
// at start, in a WARN naming the flag to set, and on /readyz; its metadata
// answers an OAuth JSON error, not plain text.
func TestUselessGatewaySaysSo(t *testing.T) {
	var logs syncBuffer
	cfg := testNodeConfig(t, "lonely", t.TempDir())
	cfg.Bootstrap, cfg.PublicAddr, cfg.OperatorID = true, "127.0.0.1:0", "ghost"
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	warned := func(flag string) bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, flag) {
				return true
			}
		}
		return false
	}
	if !warned("--smsc-addr") {
		t.Errorf("no WARN naming --smsc-addr at start:\n%s", logs.String())
	}
	f := &testFed{t: t, nodes: []*Node{n}}
	f.waitFor("a WARN naming --operator-file", func() bool { return warned("--operator-file") })

	var ready struct {
		Ready    bool
		Warnings []string
	}
	f.waitFor("the node to be ready", func() bool {
		resp, err := http.Get(n.PublicURL() + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&ready) == nil && ready.Ready
	})
	if len(ready.Warnings) != 2 || !strings.Contains(ready.Warnings[0], "no authenticator") || !strings.Contains(ready.Warnings[1], "not registered") {
		t.Errorf("readiness warnings: %q", ready.Warnings)
	}
	admin := &client.Admin{Base: n.AdminURL(), Token: testAdminToken}
	var adminReady struct{ Warnings []string }
	if err := admin.Do(context.Background(), "GET", "/readyz", nil, &adminReady); err != nil || len(adminReady.Warnings) != 2 {
		t.Errorf("the admin listener's readiness warnings: %q, %v", adminReady.Warnings, err)
	}

	resp, err := http.Get(n.PublicURL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var oauth struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&oauth); err != nil || resp.StatusCode != 503 || oauth.Error != "temporarily_unavailable" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("metadata of an unregistered operator: %d %s %+v (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), oauth, err)
	}
}
