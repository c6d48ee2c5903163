package federation

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestAuthenticatorsConfig: the operator's list of authenticators names
// known types, each once; a file holds the same list; and SMS alone is the
// default of a node given an SMSC, as before the table.
func TestAuthenticatorsConfig(t *testing.T) {
	base := Config{NodeID: "a", DataDir: t.TempDir(), AdminToken: "admin-token-abcdefghijkl"}
	bad := base
	bad.Authenticators = []AuthenticatorConfig{{Type: "sms"}, {Type: "carrier-pigeon"}, {Type: "sms"}}
	err := bad.validate()
	if err == nil || !strings.Contains(err.Error(), `"carrier-pigeon" is unknown: want one of`) ||
		!strings.Contains(err.Error(), `"sms" is listed twice`) {
		t.Fatalf("a bad list: %v", err)
	}

	file := filepath.Join(t.TempDir(), "authenticators.json")
	if err := os.WriteFile(file, []byte(`[{"type": "sms", "settings": {"mode": "otp", "ttl": "2m"}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := base
	fromFile.AuthenticatorsFile = file
	if err := fromFile.withDefaults(); err != nil || len(fromFile.Authenticators) != 1 || fromFile.Authenticators[0].Type != "sms" {
		t.Fatalf("from a file: %+v %v", fromFile.Authenticators, err)
	}
	if err := os.WriteFile(file, []byte(`[{"type": "sms", "setings": {}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := base
	typo.AuthenticatorsFile = file
	if err := typo.withDefaults(); err == nil || !strings.Contains(err.Error(), "setings") {
		t.Fatalf("a typo in the file: %v", err)
	}

	smsc := base
	smsc.SMSC = &SMSCConfig{Addr: "127.0.0.1:2775"}
	if err := smsc.withDefaults(); err != nil || len(smsc.Authenticators) != 1 || smsc.Authenticators[0].Type != "sms" {
		t.Fatalf("an SMSC alone: %+v %v", smsc.Authenticators, err)
	}
	var s smsSettings
	if err := decodeSettings([]byte(`{"mode": "url", "send_limt": 3}`), &s); err == nil {
		t.Fatal("an unknown setting was accepted")
	}
}

// TestFIDOIsOneRowOfTheTable: a node configured with SMS and FIDO offers
// level 3 and amr FIDO in its metadata; a subscriber with no passkey is
// not routed to FIDO (acr 3 is refused at once, saying the level).
func TestFIDOIsOneRowOfTheTable(t *testing.T) {
	o := startOperatorNodeWith(t, "otp", func(cfg *Config, _ *handset.Handset) {
		// A passkey's relying party is a name, never an IP address.
		cfg.PublicURL = "http://localhost"
		cfg.Authenticators = []AuthenticatorConfig{{Type: "sms"}, {Type: "fido", Settings: json.RawMessage(`{"login_ttl": "2m"}`)}}
	})
	base := "http://" + o.node.publicLn.Addr().String()
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		ACR []string `json:"acr_values_supported"`
		AMR []string `json:"mc_amr_values_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if strings.Join(meta.ACR, " ") != "2 3" || !slices.Contains(meta.AMR, "FIDO") {
		t.Fatalf("metadata of SMS and FIDO: %+v", meta)
	}
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"}, "scope": {"openid mc_authn"},
		"acr_values": {"3"}, "state": {"s"}, "nonce": {"n"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
	resp, err = noFollow.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "access_denied" || !strings.Contains(loc.Query().Get("error_description"), "level of assurance") {
		t.Fatalf("acr 3 without a passkey: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
