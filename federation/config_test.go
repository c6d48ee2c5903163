package federation

import (
	"strings"
	"testing"
	"time"
)

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	cfg := Config{
		AdminToken: "short", Bootstrap: true, Join: "10.0.0.1:7001", OperatorFile: "op.json",
		TLSCertFile: "node.pem", RaftAddr: "10.0.0.1:7000", SMSMode: "carrier-pigeon",
		TrustedProxies: []string{"10.0.0.0/8", "lb.example"},
	}
	err := cfg.validate()
	if err == nil {
		t.Fatal("a config with every mistake was accepted")
	}
	for _, want := range []string{
		"--node-id is required", "--data-dir is required", "--admin-token must be at least 16 characters",
		"--bootstrap and --join exclude each other", "--join needs --join-token", "--operator-file needs --operator",
		"--tls-cert, --tls-key and --tls-ca go together", `--sms-mode "carrier-pigeon"`,
		`--trusted-proxies: "lb.example" is not a network`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestConfigRefusesPlaintextOffLoopback(t *testing.T) {
	base := Config{NodeID: "a", DataDir: t.TempDir(), AdminToken: "admin-token-abcdefghijkl"}
	for _, tc := range []struct {
		raft      string
		plaintext bool
		ok        bool
	}{
		{"127.0.0.1:7000", false, true},
		{"localhost:7000", false, true},
		{"", false, true}, // the default is loopback
		{"10.0.0.1:7000", false, false},
		{"10.0.0.1:7000", true, true},
		{":7000", false, false}, // every interface
	} {
		cfg := base
		cfg.RaftAddr, cfg.InsecurePlaintext = tc.raft, tc.plaintext
		err := cfg.validate()
		if (err == nil) != tc.ok || err != nil && !strings.Contains(err.Error(), "mutual TLS") {
			t.Errorf("raft %q, plaintext %v: %v", tc.raft, tc.plaintext, err)
		}
	}
}

// A node built in code (mcfed dev, the tests) gets the same defaults as
// one started from the command line: key rotation included.
func TestConfigDefaults(t *testing.T) {
	var cfg Config
	cfg.Join = "10.0.0.1:7001"
	if err := cfg.withDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.KeyRotation != DefaultKeyRotation || cfg.SMSMode != DefaultSMSMode || cfg.MaxStaleness != DefaultMaxStaleness ||
		cfg.RaftAddr != DefaultRaftAddr || cfg.AdminAddr != DefaultAdminAddr || cfg.Join != "http://10.0.0.1:7001" {
		t.Fatalf("defaults: %+v", cfg)
	}
	never := Config{KeyRotation: -time.Second}
	if err := never.withDefaults(); err != nil || never.KeyRotation >= 0 {
		t.Fatalf("a negative rotation must stay 'never': %v %v", never.KeyRotation, err)
	}
	missing := Config{OperatorFile: t.TempDir() + "/none.json"}
	if err := missing.withDefaults(); err == nil {
		t.Fatal("a missing operator file was accepted")
	}
}
