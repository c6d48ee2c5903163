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

// TestDurationsAsPeopleTypeThem: every duration flag and variable takes
// days as well as Go's units, and a bad one says what it accepts.
func TestDurationsAsPeopleTypeThem(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "720h": 720 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		"1.5d": 36 * time.Hour, "-1d": -24 * time.Hour, "-1s": -time.Second, "0": 0, "250ms": 250 * time.Millisecond,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"30", "30x", "d", "1d-2h", "1e3d", "month", "", "99999999d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		} else if !strings.Contains(err.Error(), "30d") && !strings.Contains(err.Error(), "at most") {
			t.Errorf("ParseDuration(%q): %q does not say what it accepts", in, err)
		}
	}
	for d, want := range map[time.Duration]string{30 * 24 * time.Hour: "30d", 2 * time.Minute: "2m", time.Hour: "1h",
		90 * time.Minute: "1h30m", 5 * time.Second: "5s", 1500 * time.Millisecond: "1.5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestConfigRefusesAnIssuerNobodyCanReach: a public listener on every
// interface names no host to publish as the issuer, unless --public-url
// does; a --public-url must be a URL an SP can use.
func TestConfigRefusesAnIssuerNobodyCanReach(t *testing.T) {
	base := Config{NodeID: "a", DataDir: t.TempDir(), AdminToken: "admin-token-abcdefghijkl"}
	for _, tc := range []struct {
		addr, url string
		want      string // "" when accepted
	}{
		{"127.0.0.1:8080", "", ""},
		{"mc.example.net:8080", "", ""},
		{":8080", "", "--public-addr :8080 listens on every interface"},
		{"0.0.0.0:8080", "", "set --public-url"},
		{"[::]:8080", "", "set --public-url"},
		{":8080", "https://mc.example.net", ""},
		{":8080", "mc.example.net", "want an absolute http(s) URL"},
		{":8080", "https://0.0.0.0:8080", "names no machine"},
		{":8080", "https://mc.example.net/?x=1", "no query"},
	} {
		cfg := base
		cfg.PublicAddr, cfg.PublicURL = tc.addr, tc.url
		err := cfg.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("--public-addr %q --public-url %q refused: %v", tc.addr, tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--public-addr %q --public-url %q: %v, want %q", tc.addr, tc.url, err, tc.want)
		}
	}
}

func TestConfigRefusesAJoinURLThatIsNone(t *testing.T) {
	base := Config{NodeID: "a", DataDir: t.TempDir(), AdminToken: "admin-token-abcdefghijkl", JoinToken: "t"}
	for join, ok := range map[string]bool{
		"https://10.0.0.1:7001": true, "10.0.0.1:7001": true, "http://mc-a.example:7001/": true,
		"ftp://10.0.0.1": false, "https://": false, "http://:7001": false,
	} {
		cfg := base
		cfg.Join = join
		if err := cfg.validate(); (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "want a member's admin URL") {
			t.Errorf("--join %q: %v", join, err)
		}
	}
}
