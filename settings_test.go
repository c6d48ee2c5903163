package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to name in dir with mode and returns its path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// publicAddrRefusal is what serve says of a --public-addr that listens on
// every interface: a refusal that names the value in force, so the tests
// see which source won without starting a node.
func publicAddrRefusal(addr string) string {
	return "mcfed serve: --public-addr " + addr + " listens on every interface"
}

// TestConfigFilePrecedence: a setting comes from the command line, else
// the environment, else the --config file (or MCFED_CONFIG's), else the
// default; a flag that accumulates takes one source only.
func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "mcfed.toml", `# a node's settings
node-id = "a"
public-addr = ":8081"
trusted-proxies = ["10.0.0.0/24", "not-a-network"]
`, 0o644)

	code, _, stderr := runMcfed(t, "serve", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, publicAddrRefusal(":8081")) || strings.Contains(stderr, "--node-id") ||
		!strings.Contains(stderr, `--trusted-proxies: "not-a-network"`) {
		t.Fatalf("from the file: exit %d, %q", code, stderr)
	}

	t.Setenv("MCFED_PUBLIC_ADDR", ":8082")
	t.Setenv("MCFED_TRUSTED_PROXIES", "10.0.1.0/24")
	code, _, stderr = runMcfed(t, "serve", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, publicAddrRefusal(":8082")) || strings.Contains(stderr, "not-a-network") {
		t.Fatalf("the environment over the file: exit %d, %q", code, stderr)
	}

	// MCFED_CONFIG names the file as --config does; the command line wins
	// over both.
	t.Setenv("MCFED_CONFIG", cfg)
	code, _, stderr = runMcfed(t, "serve", "--public-addr", ":8083", "--trusted-proxies", "bad-proxy")
	if code != exitUsage || !strings.Contains(stderr, publicAddrRefusal(":8083")) || strings.Contains(stderr, "--node-id") ||
		!strings.Contains(stderr, `"bad-proxy"`) || strings.Contains(stderr, "10.0.1.0") {
		t.Fatalf("the command line over the environment: exit %d, %q", code, stderr)
	}

	// Without any, the default: the node id is required.
	t.Setenv("MCFED_CONFIG", "")
	os.Unsetenv("MCFED_CONFIG")
	code, _, stderr = runMcfed(t, "serve", "--public-addr", ":8083")
	if code != exitUsage || !strings.Contains(stderr, "--node-id is required") {
		t.Fatalf("no file: exit %d, %q", code, stderr)
	}
}

// TestConfigFileProblemsNameKeyAndLine: every problem of a config file is
// reported at once, each with the file, the line and the key, and nothing
// starts.
func TestConfigFileProblemsNameKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "mcfed.toml", `node-id = "a"
node_id = "b"
bootstrap = "yes"
admin-token = "admin-token-abcdefghijkl"
colour = "blue"
key-rotation = "30x"
max-staleness = 5
trusted-proxies = [1]
config = "other.toml"
[tls]
cert = "node.pem"
`, 0o644)
	code, _, stderr := runMcfed(t, "serve", "--config", cfg)
	if code != exitUsage {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	for _, want := range []string{
		cfg + `:2: unknown key "node_id": did you mean "node-id"?`,
		cfg + `:3: bootstrap = "yes": want true or false, unquoted`,
		cfg + `:4: admin-token: a secret is not written in the config file: set admin-token-file to the path of a file holding it`,
		cfg + `:5: unknown key "colour": the keys are the flags' names (mcfed help serve lists them)`,
		cfg + `:6: key-rotation = "30x": want a number and a unit, e.g. 90s, 90m, 720h or 30d`,
		cfg + `:7: max-staleness = 5: want a quoted string`,
		cfg + `:8: trusted-proxies = [1]: want an array of strings`,
		cfg + `:9: config: a config file does not name another`,
		cfg + `:10: [tls] is a table: the file is flat, one key per flag`,
	} {
		if strings.Count(stderr, "mcfed serve: "+want) != 1 {
			t.Errorf("stderr does not say once %q:\n%s", want, stderr)
		}
	}

	notTOML := writeFile(t, dir, "broken.toml", "node-id = \"a\"\nbootstrap = yes\n", 0o644)
	code, _, stderr = runMcfed(t, "serve", "--config", notTOML)
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: "+notTOML+":2: not TOML: ") {
		t.Fatalf("a file that is not TOML: exit %d, %q", code, stderr)
	}
	missing := filepath.Join(dir, "missing.toml")
	code, _, stderr = runMcfed(t, "serve", "--config", missing)
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: --config: open "+missing+": no such file or directory") {
		t.Fatalf("no file: exit %d, %q", code, stderr)
	}
}

// TestSecretsFromFiles: each secret is read from the file its -file form
// names (flag, variable or config key), less the final newline; a file
// others may read is warned of; a secret given twice at the same level,
// or a file that cannot be read, is refused.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	// 15 characters and a newline: too short once the newline goes.
	short := writeFile(t, dir, "short-token", "fifteen-chars-x\n", 0o600)
	loose := writeFile(t, dir, "loose-token", "fifteen-chars-x\n", 0o644)
	const tooShort = "mcfed serve: --admin-token must be at least 16 characters"

	code, _, stderr := runMcfed(t, "serve", "--admin-token-file", short)
	if code != exitUsage || !strings.Contains(stderr, tooShort) || strings.Contains(stderr, "secret file") {
		t.Fatalf("--admin-token-file: exit %d, %q", code, stderr)
	}
	code, _, stderr = runMcfed(t, "serve", "--admin-token-file", loose)
	if code != exitUsage || !strings.Contains(stderr, tooShort) || !strings.Contains(stderr, `"level":"WARN"`) ||
		!strings.Contains(stderr, "mode 0644 is looser than 0600") || !strings.Contains(stderr, "chmod 600 "+loose) {
		t.Fatalf("a file others may read: exit %d, %q", code, stderr)
	}

	// A key file is read by the node, and warned of alike.
	looseKey := writeFile(t, dir, "node-key.pem", "not read here\n", 0o640)
	code, _, stderr = runMcfed(t, "serve", "--admin-token-file", short, "--kek-file", looseKey)
	if code != exitUsage || !strings.Contains(stderr, "--kek-file "+looseKey+": mode 0640 is looser than 0600") {
		t.Fatalf("a key file others may read: exit %d, %q", code, stderr)
	}

	cfg := writeFile(t, dir, "mcfed.toml", "admin-token-file = \""+short+"\"\njoin = \"http://127.0.0.1:7001\"\njoin-token-file = \""+short+"\"\n", 0o644)
	code, _, stderr = runMcfed(t, "serve", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, tooShort) || strings.Contains(stderr, "--join needs --join-token") {
		t.Fatalf("the config file's -file keys: exit %d, %q", code, stderr)
	}
	// A secret and its file are one setting: the environment's value wins
	// over the file's file, and the two at one level are refused.
	t.Setenv("MCFED_ADMIN_TOKEN", "admin-token-abcdefghijkl")
	code, _, stderr = runMcfed(t, "serve", "--config", cfg)
	if code != exitUsage || strings.Contains(stderr, tooShort) {
		t.Fatalf("the environment over the config file: exit %d, %q", code, stderr)
	}
	t.Setenv("MCFED_ADMIN_TOKEN_FILE", short)
	code, _, stderr = runMcfed(t, "serve")
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: MCFED_ADMIN_TOKEN and MCFED_ADMIN_TOKEN_FILE exclude each other") {
		t.Fatalf("both variables: exit %d, %q", code, stderr)
	}
	os.Unsetenv("MCFED_ADMIN_TOKEN")
	os.Unsetenv("MCFED_ADMIN_TOKEN_FILE")

	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "\n", "is empty"},
		{"two-lines", "admin-token-abcdefghijkl\nsecond\n", "holds more than one line"},
	} {
		path := writeFile(t, dir, tc.name, tc.content, 0o600)
		code, _, stderr = runMcfed(t, "serve", "--smsc-password-file", path)
		if want := "mcfed serve: --smsc-password-file " + path + ": " + tc.want; code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, %q; want %q", tc.name, code, stderr, want)
		}
	}
	missing := filepath.Join(dir, "missing")
	code, _, stderr = runMcfed(t, "serve", "--join-token-file", missing)
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: --join-token-file "+missing+": no such file or directory") {
		t.Fatalf("a missing file: exit %d, %q", code, stderr)
	}
	code, _, stderr = runMcfed(t, "serve", "--join-token-file", short, "--join-token", "x")
	if code != exitUsage || !strings.Contains(stderr, "mcfed serve: --join-token and --join-token-file exclude each other") {
		t.Fatalf("both flags: exit %d, %q", code, stderr)
	}
}

// TestEverySecretHasAFileForm: a flag whose name says it holds a secret is
// in secretFlags, so that it has a -file form and the config file refuses
// its value, or names a secret file (secretPathFlags); a new one cannot be
// added on the command line only.
func TestEverySecretHasAFileForm(t *testing.T) {
	fs, _, _ := serveFlags()
	secret := map[string]bool{}
	for _, s := range secretFlags {
		secret[s] = true
		if fs.Lookup(s) == nil || fs.Lookup(s+"-file") == nil {
			t.Errorf("secret %s: --%s or --%s-file is not a flag of serve", s, s, s)
		}
	}
	for _, s := range secretPathFlags {
		secret[s] = true
		if fs.Lookup(s) == nil {
			t.Errorf("--%s, a secret's file, is not a flag of serve", s)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		for _, suffix := range []string{"-token", "-password", "-secret", "-kek", "-passphrase", "-key"} {
			if strings.HasSuffix(f.Name, suffix) && !secret[f.Name] {
				t.Errorf("--%s looks like a secret but is not in secretFlags", f.Name)
			}
		}
	})
	if code, help, _ := runMcfed(t, "help", "serve"); code != 0 || !strings.Contains(help, "--config string  [MCFED_CONFIG]") ||
		!strings.Contains(help, "--admin-token-file string  [MCFED_ADMIN_TOKEN_FILE]") ||
		!strings.Contains(help, "wins over the environment, which wins over the file") {
		t.Errorf("help serve does not tell of the config file and the secret files:\n%s", help)
	}
}

// TestExampleConfigIsValid: deploy/mcfed.toml parses, names only keys
// serve has, and sets what a production node needs.
func TestExampleConfigIsValid(t *testing.T) {
	fs, _, _ := serveFlags()
	from := settings{}
	if errs := loadConfigFile(fs, filepath.Join("deploy", "mcfed.toml"), from); len(errs) > 0 {
		t.Fatalf("deploy/mcfed.toml: %v", errs)
	}
	for _, key := range []string{"node-id", "data-dir", "admin-token-file", "public-url", "tls-cert", "tls-key", "tls-ca"} {
		if from[key] != fromFile {
			t.Errorf("deploy/mcfed.toml does not set %s", key)
		}
	}
}
