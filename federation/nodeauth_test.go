package federation

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// internalApply posts cmd to the internal apply endpoint of the node at
// base as node id with secret (and on behalf of an issued admin token,
// when given), over client.
func internalApply(t *testing.T, client *http.Client, base, id, secret, onBehalf string, cmd []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/internal/apply", bytes.NewReader(cmd))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Mcfed-Node", id)
	req.Header.Set("Content-Type", "application/octet-stream")
	if onBehalf != "" {
		cid, _ := registry.ParseIssuedToken(onBehalf)
		req.Header.Set("Mcfed-Presented-Credential", cid)
		req.Header.Set("Mcfed-Presented-Secret", onBehalf)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Code
}

func nodeSecretOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, nodeSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestInternalEndpointsTakeNodeCredentials: a member is known by its own
// credential, which authors what it writes for itself and nothing more; a
// guessed secret, or one node's secret under another's id, is refused.
// There is no shared secret left: the data directory holds none.
func TestInternalEndpointsTakeNodeCredentials(t *testing.T) {
	f := startFed(t, 2)
	l := f.leader()
	o := 1 - l
	secret := nodeSecretOf(t, f.dirs[o])
	id := f.nodes[o].cfg.NodeID
	scope := registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "x-forwarded"})
	for name, tc := range map[string]struct {
		id, secret string
		status     int
		code       string
	}{
		"a guessed secret":               {id, "guess-" + secret, 401, "cluster_auth"},
		"a member's secret as another":   {f.nodes[l].cfg.NodeID, secret, 401, "cluster_auth"},
		"a member writing the catalogue": {id, secret, 403, "forbidden"},
	} {
		if status, code := internalApply(t, http.DefaultClient, f.nodes[l].AdminURL(), tc.id, tc.secret, "", scope); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", name, status, code, tc.status, tc.code)
		}
	}
	// On behalf of the federation admin, the member's forwarded write goes
	// in under the admin's name.
	if status, _ := internalApply(t, http.DefaultClient, f.nodes[l].AdminURL(), id, secret, f.fedToken, scope); status != 200 {
		t.Fatalf("a forwarded write of the federation admin: %d", status)
	}
	reg := f.nodes[l].Raft().Registry()
	entries := reg.Audit(registry.AuditQuery{Key: "x-forwarded"}).Items
	if len(entries) != 2 || entries[0].Outcome != registry.OutcomeRefused || entries[0].Author.Credential != "node:"+id ||
		entries[1].Outcome != registry.OutcomeApplied || entries[1].Author.Role != registry.RoleFederationAdmin {
		t.Fatalf("audit of the catalogue writes: %+v", entries)
	}
	if _, err := os.Stat(filepath.Join(f.dirs[o], "cluster-secret")); err == nil {
		t.Fatal("a node keeps a cluster secret")
	}
}
