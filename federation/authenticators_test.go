package federation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
