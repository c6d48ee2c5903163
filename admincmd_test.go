package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/internal/testca"
	"github.com/mcfed/mcfed/registry"
)

const adminTestToken = "admin-cli-test-token-0123456789"

// startAdminNode starts a real node on loopback, the first of a new
// federation and the gateway node of operator red (registered, with a
// number range), with mutual TLS from the PEM files in tlsFiles when set,
// and waits until its admin API answers writes.
func startAdminNode(t *testing.T, tls *[3]string) *federation.Node {
	t.Helper()
	cfg := federation.Config{
		NodeID: "n1", DataDir: t.TempDir(), AdminToken: adminTestToken, Bootstrap: true,
		RaftAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", OperatorID: "red",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	httpc := &client.TLSFiles{}
	if tls != nil {
		cfg.TLSCAFile, cfg.TLSCertFile, cfg.TLSKeyFile = tls[0], tls[1], tls[2]
		httpc = &client.TLSFiles{CA: tls[0], Cert: tls[1], Key: tls[2]}
	}
	n, err := federation.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	hc, err := client.HTTPClient(*httpc, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := &client.Admin{Base: n.AdminURL(), Token: adminTestToken, HTTP: hc}
	ctx := context.Background()
	for _, w := range []struct {
		path string
		body any
	}{
		{"/v1/operators/red", map[string]any{"id": "red", "name": "Red Mobile", "country": "GB", "currency": "GBP",
			"networks": []string{"234_10"}, "issuer": n.PublicURL()}},
		{"/v1/ranges/+447400", map[string]string{"operator": "red"}},
	} {
		if err := client.Retry(ctx, func() error { return a.Do(ctx, "PUT", w.path, w.body, nil) }); err != nil {
			t.Fatalf("PUT %s: %v", w.path, err)
		}
	}
	// The standard catalogue, which the node seeds after its start: the
	// subcommands below use its scopes. Its last row is the last API.
	apis := registry.StandardAPIs()
	for deadline := time.Now().Add(15 * time.Second); n.Raft().Registry().API(apis[len(apis)-1].ID) == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the standard catalogue was not seeded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// TestAdminCLI drives a real node through mcfed admin as an operator's
// engineer does: each subcommand's answer as a table and as JSON, the
// admin API's refusals as one line with exit 1, bad command lines exit 2.
func TestAdminCLI(t *testing.T) {
	n := startAdminNode(t, nil)
	tokenFile := writeFile(t, t.TempDir(), "token", adminTestToken+"\n", 0o600)
	t.Setenv("MCFED_ADMIN_URL", n.AdminURL())
	admin := func(args ...string) (int, string, string) {
		t.Helper()
		return runMcfed(t, append([]string{"admin", "--token-file", tokenFile}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := admin(args...)
		if code != 0 {
			t.Fatalf("mcfed admin %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	okJSON := func(args ...string) map[string]any {
		t.Helper()
		var v map[string]any
		out := ok(append(args, "--output", "json")...)
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("mcfed admin %s --output json: %v in %s", strings.Join(args, " "), err, out)
		}
		return v
	}

	if out := ok("status"); !strings.Contains(out, "raft.state") || !strings.Contains(out, "Leader") {
		t.Errorf("status:\n%s", out)
	}
	if st := okJSON("status"); st["registry"] == nil {
		t.Errorf("status as JSON: %v", st)
	}

	// A join token, flags after the subcommand as well as before.
	tok := okJSON("join-token", "create", "--node-id", "n2", "--operator", "red", "--additional-gateway", "--voter=false")
	if s, _ := tok["token"].(string); s == "" {
		t.Errorf("join token: %v", tok)
	}

	if out := ok("operators", "list"); !strings.Contains(out, "ID") || !strings.Contains(out, "Red Mobile") {
		t.Errorf("operators list:\n%s", out)
	}
	if op := okJSON("operators", "get", "red"); op["name"] != "Red Mobile" {
		t.Errorf("operators get: %v", op)
	}
	if out := ok("scopes", "list"); !strings.Contains(out, "openid") {
		t.Errorf("scopes list:\n%s", out)
	}

	// An SP from a file: its secret is answered once, then rotated.
	spFile := writeFile(t, t.TempDir(), "shop.json", `{"client_id": "shop", "name": "Corner Shop",
		"redirect_uris": ["https://shop.example/cb"], "scopes": ["openid", "mc_authn"]}`, 0o600)
	sp := okJSON("sp", "put", "-f", spFile)
	secret, _ := sp["client_secret"].(string)
	if secret == "" {
		t.Fatalf("sp put: %v", sp)
	}
	if out := ok("sp", "list"); !strings.Contains(out, "CLIENT_ID") || !strings.Contains(out, "Corner Shop") || !strings.Contains(out, "openid,mc_authn") {
		t.Errorf("sp list:\n%s", out)
	}
	if got := okJSON("sp", "get", "shop"); got["name"] != "Corner Shop" {
		t.Errorf("sp get: %v", got)
	}
	if rot := okJSON("sp", "secret", "rotate", "shop"); rot["client_secret"] == secret || rot["client_secret"] == nil {
		t.Errorf("sp secret rotate: %v", rot)
	}

	// Subscribers from a CSV file.
	csv := writeFile(t, t.TempDir(), "subs.csv", "msisdn,given_name,family_name\n+447400111222,Grace,Hopper\n+447400111333,Ada,Lovelace\n", 0o600)
	if res := okJSON("subscribers", "import", "-f", csv); res["rows"] != float64(2) {
		t.Errorf("subscribers import: %v", res)
	}
	if out := ok("subscribers", "get", "+447400111222"); !strings.Contains(out, "Grace") {
		t.Errorf("subscribers get:\n%s", out)
	}

	if out := ok("audit", "list", "--since", "1h"); !strings.Contains(out, "COMMAND") || !strings.Contains(out, "shop") {
		t.Errorf("audit list:\n%s", out)
	}

	if out := ok("voters", "set", "--voters", "n1"); !strings.Contains(out, "n1") {
		t.Errorf("voters set:\n%s", out)
	}
	if v := okJSON("voters", "get"); v["configured"] != true {
		t.Errorf("voters get: %v", v)
	}

	// The admin API's refusals: one line with the status and the detail.
	code, out, errOut := admin("sp", "get", "nosuch")
	if code != exitFailure || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.HasPrefix(errOut, "mcfed admin: admin API answered 404 Not Found: ") || !strings.Contains(errOut, "nosuch") {
		t.Errorf("sp get nosuch: exit %d, %q", code, errOut)
	}
	code, _, errOut = admin("promote", "n9")
	if code != exitFailure || !strings.Contains(errOut, "answered 404 Not Found") {
		t.Errorf("promote n9: exit %d, %q", code, errOut)
	}
	bad := writeFile(t, t.TempDir(), "bad.csv", "msisdn,given_name\n+447400111444,Alan\nnot-a-number,Bob\n", 0o600)
	code, _, errOut = admin("subscribers", "import", "-f", bad)
	if code != exitFailure || !strings.Contains(errOut, "answered 422") || !strings.Contains(errOut, "\n  line 3: ") {
		t.Errorf("a bad import: exit %d, %q", code, errOut)
	}
	// The same from standard input.
	stdin, err := os.Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	saved := os.Stdin
	os.Stdin = stdin
	code, _, errOut = admin("subscribers", "import", "-f", "-")
	os.Stdin = saved
	if code != exitFailure || !strings.Contains(errOut, "answered 422") || !strings.Contains(errOut, "\n  line 3: ") {
		t.Errorf("a bad import from standard input: exit %d, %q", code, errOut)
	}
	code, _, errOut = runMcfed(t, "admin", "--token", "wrong-token-0123456789", "status")
	if code != exitFailure || !strings.Contains(errOut, "answered 401 Unauthorized") {
		t.Errorf("a wrong token: exit %d, %q", code, errOut)
	}

	// A node that is not there: exit 1, the address named.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	code, _, errOut = admin("--url", gone, "status")
	if code != exitFailure || !strings.Contains(errOut, ln.Addr().String()) {
		t.Errorf("an unreachable node: exit %d, %q", code, errOut)
	}

	// Bad command lines: exit 2, nothing sent.
	for _, args := range [][]string{
		{"admin", "--token-file", tokenFile, "sp", "frobnicate"},
		{"admin", "--token-file", tokenFile},
		{"admin", "--token-file", tokenFile, "sp", "get"},
		{"admin", "--token-file", tokenFile, "sp", "put", "a", "b", "-f", spFile},
		{"admin", "--token-file", tokenFile, "sp", "put", "shop"},
		{"admin", "--token-file", tokenFile, "--output", "yaml", "status"},
		{"admin", "--token-file", tokenFile, "join-token", "create"},
		{"admin", "--token-file", tokenFile, "audit", "list", "--since", "yesterday"},
		{"admin", "--url", "", "--token-file", tokenFile, "status"},
		{"admin", "status"},
	} {
		if code, _, errOut := runMcfed(t, args...); code != exitUsage || !strings.HasPrefix(errOut, "mcfed admin: ") {
			t.Errorf("%s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestAdminCLIMutualTLS: --cacert, --cert and --key reach a node of a
// federation with mutual TLS; without --cacert the node's certificate is
// not trusted, exit 1.
func TestAdminCLIMutualTLS(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := ca.WriteFiles(t, dir, "n1")
	n := startAdminNode(t, &[3]string{caFile, certFile, keyFile})
	_, adminCert, adminKey := ca.WriteFiles(t, t.TempDir(), "admin")
	t.Setenv("MCFED_ADMIN_TOKEN", adminTestToken)
	code, out, errOut := runMcfed(t, "admin", "--url", n.AdminURL(), "--cacert", caFile, "--cert", adminCert, "--key", adminKey, "status")
	if code != 0 || !strings.Contains(out, "Leader") {
		t.Fatalf("exit %d, %s%s", code, out, errOut)
	}
	// The admin listener asks for a client certificate but, the admin
	// token being the credential, takes a request without one.
	if code, out, errOut = runMcfed(t, "admin", "--url", n.AdminURL(), "--cacert", caFile, "status"); code != 0 || !strings.Contains(out, "Leader") {
		t.Fatalf("without a client certificate: exit %d, %q", code, errOut)
	}
	code, _, errOut = runMcfed(t, "admin", "--url", n.AdminURL(), "status")
	if code != exitFailure || !strings.Contains(errOut, "certificate") {
		t.Fatalf("without --cacert: exit %d, %q", code, errOut)
	}
	code, _, errOut = runMcfed(t, "admin", "--url", n.AdminURL(), "--cacert", caFile, "--cert", adminCert, "status")
	if code != exitUsage || !strings.Contains(errOut, "--cert and --key go together") {
		t.Fatalf("--cert without --key: exit %d, %q", code, errOut)
	}
}

// TestAdminHelpListsSubcommands: "mcfed help admin" names every subcommand
// with its flags.
func TestAdminHelpListsSubcommands(t *testing.T) {
	code, help, _ := runMcfed(t, "help", "admin")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range adminCommands() {
		if !strings.Contains(help, "  "+c.name+" ") {
			t.Errorf("help does not list %q", c.name)
		}
	}
	for _, want := range []string{"--url", "MCFED_ADMIN_URL", "MCFED_ADMIN_TOKEN", "--cacert", "--output", "--node-id", "--since", "Exit codes"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not hold %q", want)
		}
	}
}
