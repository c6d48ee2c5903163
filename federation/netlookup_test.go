package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestNetworkLookupServesIPPortHints: a node whose --network-lookup-file
// names the operator's lookup service (on loopback, with a bearer token
// in a file) maps a CIBA login_hint=ipport: to the line behind it and
// reaches that subscriber's handset; an address the service does not
// know is acknowledged alike and reaches nobody.
func TestNetworkLookupServesIPPortHints(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	lookup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		}
		_ = json.NewDecoder(r.Body).Decode(&q)
		mu.Lock()
		asked = append(asked, r.Header.Get("Authorization")+" "+q.Address)
		mu.Unlock()
		if q.Address != "84.125.93.10" || q.Port != 59028 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(`{"msisdn": "` + smsActive + `"}`))
	}))
	defer lookup.Close()
	dir := t.TempDir()
	tokenFile, settingsFile := filepath.Join(dir, "token"), filepath.Join(dir, "lookup.json")
	if err := os.WriteFile(tokenFile, []byte("lookup-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	settings, _ := json.Marshal(map[string]string{"url": lookup.URL + "/v1/lines", "bearer_token_file": tokenFile, "timeout": "2s"})
	if err := os.WriteFile(settingsFile, settings, 0o600); err != nil {
		t.Fatal(err)
	}
	o := startOperatorNodeWith(t, "url", func(cfg *Config, _ *handset.Handset) { cfg.NetworkLookupFile = settingsFile })

	bc := func(hint string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", o.node.PublicURL()+"/bc-authorize",
			strings.NewReader(url.Values{"scope": {"openid"}, "login_hint": {hint}}.Encode()))
		req.SetBasicAuth("shop", o.tokenSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// The unknown address first: had it sent anything, it would be in the
	// handset before the known one's message.
	for _, hint := range []string{"ipport:84.125.93.99:59028", "ipport:84.125.93.10:59028"} {
		if status, ack := bc(hint); status != 200 || ack["auth_req_id"] == nil || ack["interval"] != float64(5) {
			t.Fatalf("%s: %d %v", hint, status, ack)
		}
	}
	msisdn, _ := handset.NormalizeMSISDN(smsActive)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := o.handset.WaitFor(ctx, msisdn, func(handset.Message) bool { return true }); err != nil {
		t.Fatalf("the line behind the address got no message: %v", err)
	}
	total := 0
	for _, n := range o.handset.MSISDNs() {
		total += len(o.handset.Messages(n))
	}
	if total != 1 {
		t.Fatalf("%d messages reached handsets, want the one line's", total)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || asked[0] != "Bearer lookup-token 84.125.93.99" || asked[1] != "Bearer lookup-token 84.125.93.10" {
		t.Fatalf("the lookup service was asked %q", asked)
	}
	if status, body := bc("ipport:2001:db8::1"); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("an unbracketed IPv6 address: %d %v", status, body)
	}
}

// TestNetworkLookupConfig: one lookup at most; a typo in the file is said
// at start.
func TestNetworkLookupConfig(t *testing.T) {
	base := Config{NodeID: "a", DataDir: t.TempDir(), AdminToken: "admin-token-abcdefghijkl"}
	file := filepath.Join(t.TempDir(), "lookup.json")
	if err := os.WriteFile(file, []byte(`{"url": "https://lookup.example/v1/lines", "timout": "2s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	both := base
	both.NetworkLookup, both.NetworkLookupFile = json.RawMessage(`{"url": "https://lookup.example/"}`), file
	if err := both.validate(); err == nil || !strings.Contains(err.Error(), "one network lookup") {
		t.Fatalf("settings and a file: %v", err)
	}
	typo := base
	typo.NetworkLookupFile = file
	if err := typo.withDefaults(); err == nil || !strings.Contains(err.Error(), "timout") {
		t.Fatalf("a typo in the file: %v", err)
	}
}
