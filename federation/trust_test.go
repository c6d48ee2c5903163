package federation

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// TestOperatorsCannotTouchEachOthersData: operator b's admin, with the
// admin token of b's own node, tries every write the issue lists against a
// and c: each is refused with 403 problem+json (its claim on a's range with
// 409, naming the dispute it opened: disputes_test.go), no replica changes,
// and the audit log names each attempt. The same writes by their rightful authors
// succeed.
func TestOperatorsCannotTouchEachOthersData(t *testing.T) {
	c := startCompetitors(t)
	reg := c.node["b"].Raft().Registry()
	// a's record as b would have it: b's issuer and sealing key, so that
	// discovery sends a's subscribers to b.
	hijacked := *reg.Operator("a")
	hijacked.Meta, hijacked.Slot = registry.Meta{}, 0
	hijacked.Issuer, hijacked.SealingKey = reg.Operator("b").Issuer, reg.Operator("b").SealingKey
	evilSP := map[string]any{"name": "Shop", "scopes": []string{"openid"},
		"redirect_uris": []string{"https://shop.example/cb", "https://evil.example/steal"}}

	before := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		before[i] = replicaState(n.Raft().Registry())
	}
	attempts := []struct {
		name, method, path string
		body               any
		// disputed: a claim, refused as a conflict and recorded as a
		// dispute rather than forbidden.
		disputed bool
	}{
		{"rewrite a's record", "PUT", "/v1/operators/a", hijacked, false},
		{"suspend c", "POST", "/v1/operators/c/suspend", nil, false},
		{"delete a's range", "DELETE", "/v1/ranges/+447911", nil, false},
		{"take a's range", "PUT", "/v1/ranges/+447911", admin.OperatorRef{Operator: "b"}, true},
		{"port a's number", "PUT", "/v1/ported/+447911000001", admin.OperatorRef{Operator: "b"}, false},
		{"decline the SP for c", "PUT", "/v1/operators/c/sp-policies/shop", map[string]bool{"declined": true}, false},
		{"add a redirect URI to the SP", "PUT", "/v1/service-providers/shop", evilSP, false},
		{"issue a join token", "POST", "/v1/cluster/join-tokens", map[string]string{"node_id": "node-b2", "operator": "b"}, false},
		{"remove a's node", "DELETE", "/v1/cluster/nodes/node-a", nil, false},
		{"take c out of the federation", "POST", "/v1/operators/c/leave", nil, false},
		{"issue itself a federation admin credential", "POST", "/v1/credentials", admin.CredentialRequest{Role: registry.RoleFederationAdmin}, false},
	}
	for _, at := range attempts {
		err := c.as("b").Do(context.Background(), at.method, at.path, at.body, nil)
		api, ok := err.(*client.APIError)
		if at.disputed {
			if !ok || api.Status != 409 || api.ContentType != "application/problem+json" || !strings.HasSuffix(api.Problem.Type, "/conflict") ||
				!strings.Contains(api.Problem.Detail, "dispute ") {
				t.Errorf("b tried to %s: got %v, want 409 problem+json naming a dispute", at.name, err)
			}
			continue
		}
		if !ok || api.Status != 403 || api.ContentType != "application/problem+json" || !strings.HasSuffix(api.Problem.Type, "/forbidden") {
			t.Errorf("b tried to %s: got %v, want 403 problem+json of type forbidden", at.name, err)
		}
	}
	c.settle()
	for i, n := range c.nodes {
		if got := replicaState(n.Raft().Registry()); got != before[i] {
			t.Errorf("node %s's replica changed under b's refused writes", n.cfg.NodeID)
		}
	}

	// The audit log, as the federation admin reads it, names each attempt.
	var page registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=1000", nil, &page)
	refused := 0
	for _, e := range page.Items {
		if e.Outcome == registry.OutcomeRefused {
			want := registry.CodeForbidden
			if e.Command == "put_ranges" {
				want = registry.CodeConflict // the claim on a's range
			}
			if e.Author.Credential != "admin:node-b" || e.Author.Operator != "b" || e.Code != want || e.Command == "" {
				t.Errorf("refused entry %+v is not b's forbidden attempt", e)
			}
			refused++
		}
	}
	if refused != len(attempts) {
		t.Fatalf("the audit log holds %d refusals, want one for each of b's %d attempts", refused, len(attempts))
	}

	// What b tried, each rightful author does.
	mine := *c.node["a"].Raft().Registry().Operator("a")
	mine.Meta, mine.Slot = registry.Meta{}, 0
	mine.Name = "Operator a, renamed"
	porting := c.issue(0, registry.RolePortingAuthority, "")
	for _, w := range []struct {
		who                string
		as                 *client.Admin
		method, path, name string
		body               any
	}{
		{"a", c.as("a"), "PUT", "/v1/operators/a", "rewrite its record", mine},
		{"a", c.as("a"), "PUT", "/v1/operators/a/sp-policies/shop", "decline the SP for itself", map[string]bool{"declined": true}},
		{"a", c.as("a"), "DELETE", "/v1/ranges/+447911", "delete its range", nil},
		{"the porting authority", &client.Admin{Base: c.node["b"].AdminURL(), Token: porting}, "PUT", "/v1/ported/+447912000001",
			"port b's number to c", admin.OperatorRef{Operator: "c"}},
		{"the federation", c.admin(2), "POST", "/v1/operators/c/suspend", "suspend c", nil},
		{"the federation", c.admin(2), "PUT", "/v1/service-providers/shop", "change the SP", evilSP},
		{"the federation", c.admin(2), "POST", "/v1/cluster/join-tokens", "issue a join token", map[string]string{"node_id": "node-d", "operator": "d"}},
	} {
		if err := w.as.Do(context.Background(), w.method, w.path, w.body, nil); err != nil {
			t.Errorf("%s could not %s: %v", w.who, w.name, err)
		}
	}
	c.settle()
	for _, n := range c.nodes {
		r := n.Raft().Registry()
		if r.Operator("a").Name != "Operator a, renamed" || r.Range("+447911") != nil || r.SPPolicy("a", "shop") == nil ||
			r.Operator("c").Status != registry.StatusSuspended || r.PortedCount() != 1 {
			t.Fatalf("node %s does not hold the rightful writes", n.cfg.NodeID)
		}
	}
}

// TestConcurrentCreatesOfOneSP: creates of one SP through every node at
// once: exactly one 201, the others 409, and the secret handed out is the
// one that works.
func TestConcurrentCreatesOfOneSP(t *testing.T) {
	f := startFed(t, 3)
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	f.waitFor("the catalogue on every node", func() bool {
		for _, n := range f.nodes {
			if n.Raft().Registry().Scope("openid") == nil {
				return false
			}
		}
		return true
	})
	body := map[string]any{"client_id": "race", "name": "Race", "redirect_uris": []string{"https://race.example/cb"}, "scopes": []string{"openid"}}
	type result struct {
		status int
		secret string
	}
	results := make([]result, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out admin.SPResponse
			err := f.admin(i%3).Do(context.Background(), "POST", "/v1/service-providers", body, &out)
			results[i] = result{201, out.ClientSecret}
			if err != nil {
				results[i] = result{statusOf(err), ""}
			}
		}()
	}
	wg.Wait()
	created, conflicts := 0, 0
	var secret string
	for _, r := range results {
		switch r.status {
		case 201:
			created++
			secret = r.secret
		case 409:
			conflicts++
		}
	}
	if created != 1 || conflicts != len(results)-1 {
		t.Fatalf("concurrent creates: %+v, want one 201 and %d 409", results, len(results)-1)
	}
	if !f.nodes[0].Raft().Registry().ServiceProvider("race").CheckSecret(secret) {
		t.Fatal("the secret the 201 handed out does not work")
	}
}
