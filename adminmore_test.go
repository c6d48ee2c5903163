package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
)

// TestAdminCLINumbersAndCatalogue drives ranges, ported numbers, products,
// credentials and approvals through mcfed admin on a real node, and
// imports a file of ported numbers, which prints its progress and its rows
// per second on standard error.
func TestAdminCLINumbersAndCatalogue(t *testing.T) {
	n := startAdminNode(t, nil)
	ctx := context.Background()
	a := &client.Admin{Base: n.AdminURL(), Token: adminTestToken}
	if err := a.Do(ctx, "PUT", "/v1/operators/blue", map[string]any{"id": "blue", "name": "Blue Mobil", "country": "GB",
		"currency": "GBP", "networks": []string{"234_20"}, "issuer": "https://blue.example"}, nil); err != nil {
		t.Fatal(err)
	}
	tokenFile := writeFile(t, t.TempDir(), "token", adminTestToken+"\n", 0o600)
	t.Setenv("MCFED_ADMIN_URL", n.AdminURL())
	run := func(args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runMcfed(t, append([]string{"admin", "--token-file", tokenFile}, args...)...)
		if code != 0 {
			t.Fatalf("mcfed admin %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
		return out, errOut
	}
	okJSON := func(args ...string) map[string]any {
		t.Helper()
		out, _ := run(append(args, "--output", "json")...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("mcfed admin %s: %v in %q", strings.Join(args, " "), err, out)
		}
		return v
	}

	// Ranges.
	run("ranges", "put", "+447500", "--operator", "blue")
	if out, _ := run("ranges", "list", "--operator", "blue"); !strings.Contains(out, "PREFIX") || !strings.Contains(out, "+447500") || strings.Contains(out, "+447400") {
		t.Errorf("ranges list --operator blue:\n%s", out)
	}
	if r := okJSON("ranges", "get", "+447500"); r["operator"] != "blue" {
		t.Errorf("ranges get: %v", r)
	}

	// Ported numbers, one and a file of them.
	run("ported", "put", "+447400000001", "--operator", "blue")
	if p := okJSON("ported", "get", "+447400000001"); p["operator"] != "blue" {
		t.Errorf("ported get: %v", p)
	}
	run("ported", "delete", "+447400000001")
	const rows = 20000
	file := filepath.Join(t.TempDir(), "ported.csv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "msisdn,operator")
	for i := range rows {
		fmt.Fprintf(w, "+4474001%05d,blue\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, errOut := run("import", "ported", file, "--progress", "1ms", "--output", "json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["rows"] != float64(rows) || res["changed"] != float64(rows) {
		t.Errorf("import ported: %v %s", err, out)
	}
	if !strings.Contains(errOut, "sent 100.0%") || !regexp.MustCompile(fmt.Sprintf(`(?m)^imported %d rows in [0-9.]+m?s: [0-9]+ rows/s$`, rows)).MatchString(errOut) {
		t.Errorf("import ported's progress and rows/s:\n%s", errOut)
	}
	if p := okJSON("ported", "get", "+447400119999"); p["operator"] != "blue" {
		t.Errorf("a number of the file: %v", p)
	}
	// The same file again changes nothing.
	if again := okJSON("import", "ported", file, "--progress", "0"); again["unchanged"] != float64(rows) {
		t.Errorf("the file again: %v", again)
	}

	// Products.
	prod := writeFile(t, t.TempDir(), "p.json", `{"name": "Strong login", "scopes": ["openid", "mc_authn"], "min_loa": 3}`, 0o600)
	run("products", "put", "strong", "-f", prod)
	if out, _ := run("products", "list"); !strings.Contains(out, "strong") || !strings.Contains(out, "Strong login") {
		t.Errorf("products list:\n%s", out)
	}
	if p := okJSON("products", "get", "strong"); p["min_loa"] != float64(3) {
		t.Errorf("products get: %v", p)
	}
	run("products", "delete", "strong")
	if code, _, errOut := runMcfed(t, "admin", "--token-file", tokenFile, "products", "get", "strong"); code != exitFailure || !strings.Contains(errOut, "404") {
		t.Errorf("a deleted product: exit %d, %q", code, errOut)
	}

	// Developers own SPs; suspending one suspends its apps at discovery.
	devFile := writeFile(t, t.TempDir(), "acme.json", `{"name": "Acme Ltd", "contacts": [{"name": "Ops", "email": "ops@acme.example"}]}`, 0o600)
	run("developers", "put", "acme", "-f", devFile)
	if out, _ := run("developers", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "Acme Ltd") || !strings.Contains(out, "active") {
		t.Errorf("developers list:\n%s", out)
	}
	if d := okJSON("developers", "suspend", "acme"); d["status"] != "suspended" {
		t.Errorf("developers suspend: %v", d)
	}
	if d := okJSON("developers", "activate", "acme"); d["status"] != "active" {
		t.Errorf("developers activate: %v", d)
	}
	run("developers", "delete", "acme")

	// APIs and their per-SP limits.
	apiFile := writeFile(t, t.TempDir(), "api.json", `{"name": "UserInfo", "rate_per_sp": 50, "burst_per_sp": 100}`, 0o600)
	run("apis", "put", "number-verification", "-f", apiFile)
	if out, _ := run("apis", "list"); !strings.Contains(out, "RATE_PER_SP") || !strings.Contains(out, "number-verification") || !strings.Contains(out, "100") {
		t.Errorf("apis list:\n%s", out)
	}
	if a := okJSON("apis", "get", "number-verification"); a["rate_per_sp"] != float64(50) {
		t.Errorf("apis get: %v", a)
	}
	bad := writeFile(t, t.TempDir(), "bad.json", `{"name": "UserInfo", "rate_per_sp": 0, "burst_per_sp": 100}`, 0o600)
	if code, _, errOut := runMcfed(t, "admin", "--token-file", tokenFile, "apis", "put", "number-verification", "-f", bad); code != exitFailure ||
		!strings.Contains(errOut, "answered 400") || !strings.Contains(errOut, "rate_per_sp") {
		t.Errorf("an API without a rate: exit %d, %q", code, errOut)
	}
	run("apis", "delete", "number-verification")

	// Credentials: issued (its token once), listed, revoked.
	credFile := writeFile(t, t.TempDir(), "c.json", `{"role": "operator-admin", "operator": "blue", "name": "blue's engineer"}`, 0o600)
	cred := okJSON("credentials", "create", "-f", credFile)
	id, _ := cred["id"].(string)
	if tok, _ := cred["token"].(string); id == "" || !strings.HasPrefix(tok, "mcfed_") {
		t.Fatalf("credentials create: %v", cred)
	}
	if out, _ := run("credentials", "list"); !strings.Contains(out, id) || !strings.Contains(out, "blue's engineer") {
		t.Errorf("credentials list:\n%s", out)
	}
	run("credentials", "revoke", id)

	// Approvals: one admin, nothing waits.
	if r := okJSON("approval-rules", "get"); r["approvals_required"] != float64(1) {
		t.Errorf("approval-rules get: %v", r)
	}
	if out, _ := run("approvals", "list"); !strings.Contains(out, "ID") {
		t.Errorf("approvals list:\n%s", out)
	}

	// Bad command lines: exit 2.
	for _, args := range [][]string{
		{"ranges", "put", "+447600"},
		{"products", "put", "x"},
		{"import", "ported"},
	} {
		if code, _, errOut := runMcfed(t, append([]string{"admin", "--token-file", tokenFile}, args...)...); code != exitUsage {
			t.Errorf("%s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
}
