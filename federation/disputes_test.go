package federation

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// startDisputants is startCompetitors where b's profile also names a range
// and an IP range inside a's: a onboards first, so that b's onboarding
// meets them.
func startDisputants(t *testing.T) *competitors {
	f := startFed(t, 1)
	c := &competitors{testFed: f, node: map[string]*Node{}, token: map[string]string{}}
	for _, p := range competitorPlan {
		cfg := testNodeConfig(t, "node-"+p.id, filepath.Join(t.TempDir(), p.id))
		cfg.AdminToken = "admin-token-of-operator-" + p.id
		cfg.PublicAddr, cfg.OperatorID = "127.0.0.1:0", p.id
		cfg.Operator = &OperatorProfile{Name: "Operator " + p.id, Country: "GB", Currency: "GBP",
			Networks: []string{p.network}, Ranges: []string{p.prefix}, IPRanges: []string{p.cidr}}
		if p.id == "b" {
			cfg.Operator.Ranges = append(cfg.Operator.Ranges, "+4479115")
			cfg.Operator.IPRanges = append(cfg.Operator.IPRanges, "10.71.5.0/24")
		}
		cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, cfg.NodeID, p.id)
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, n)
		f.dirs = append(f.dirs, cfg.DataDir)
		c.node[p.id], c.token[p.id] = n, cfg.AdminToken
		<-n.onboarded
	}
	c.settle()
	return c
}

// ipServedEverywhere says whether every replica gives addr to op.
func (c *competitors) ipServedEverywhere(addr, op string) bool {
	c.t.Helper()
	c.settle()
	for _, n := range c.nodes {
		if o := n.Raft().Registry().OperatorByIP(netip.MustParseAddr(addr)); o == nil || o.ID != op {
			return false
		}
	}
	return true
}

// TestDisputedRangesAreTakenByNeither: b onboards with a range and an IP
// range inside a's: a keeps both, and each is an open dispute that a and b
// see and c does not. b's admin claiming the range again gets 409 naming
// the same dispute; c's claim opens another. Neither party may settle; the
// federation admin awards the range to b, and every replica resolves its
// numbers to b, and the IP range to a, which keeps it. Every step is in
// the audit log.
func TestDisputedRangesAreTakenByNeither(t *testing.T) {
	c := startDisputants(t)
	ctx := context.Background()
	if !c.servedEverywhere("+447911500001", "a") || !c.ipServedEverywhere("10.71.5.1", "a") {
		t.Fatal("b's onboarding took a's numbers or addresses")
	}
	if !c.servedEverywhere("+447912000001", "b") || !c.ipServedEverywhere("10.72.0.1", "b") {
		t.Fatal("b's own ranges were not registered")
	}
	list := func(as *client.Admin, query string) map[string]registry.Dispute {
		t.Helper()
		var page registry.Page[registry.Dispute]
		if err := as.Do(ctx, "GET", "/v1/disputes"+query, nil, &page); err != nil {
			t.Fatal(err)
		}
		out := map[string]registry.Dispute{}
		for _, d := range page.Items {
			out[d.Range] = *d
		}
		return out
	}
	all := list(c.admin(0), "?status=open")
	rng, ip := all["+4479115"], all["10.71.5.0/24"]
	if len(all) != 2 || rng.Claimant != "b" || rng.Holder != "a" || rng.HolderRange != "+447911" || rng.Kind != registry.DisputeRange ||
		ip.Claimant != "b" || ip.Holder != "a" || ip.HolderRange != "10.71.0.0/16" || ip.Kind != registry.DisputeIPRange {
		t.Fatalf("open disputes %+v, want b's two claims on a's ranges", all)
	}
	for _, op := range []string{"a", "b"} {
		if seen := list(c.as(op), ""); len(seen) != 2 || seen["+4479115"].ID != rng.ID || seen["10.71.5.0/24"].ID != ip.ID {
			t.Fatalf("%s sees disputes %+v, want both", op, seen)
		}
	}
	if seen := list(c.as("c"), ""); len(seen) != 0 {
		t.Fatalf("c sees disputes it is no party to: %+v", seen)
	}
	if err := c.as("c").Do(ctx, "GET", "/v1/disputes?operator=a", nil, nil); statusOf(err) != 403 {
		t.Fatalf("c listing a's disputes: %v, want 403", err)
	}
	if err := c.as("c").Do(ctx, "GET", "/v1/disputes/"+rng.ID, nil, nil); statusOf(err) != 404 {
		t.Fatalf("c reading a dispute it is no party to: %v, want 404", err)
	}

	// b's admin claims the range again: 409 naming the same dispute. c's
	// claim on the same range is a dispute of its own.
	claim := func(op, path string, body any) string {
		t.Helper()
		err := c.as(op).Do(ctx, "PUT", path, body, nil)
		api, ok := err.(*client.APIError)
		if !ok || api.Status != 409 || api.ContentType != "application/problem+json" || !strings.Contains(api.Problem.Detail, "dispute ") {
			t.Fatalf("%s's claim %s: got %v, want 409 problem+json naming a dispute", op, path, err)
		}
		return api.Problem.Detail
	}
	if detail := claim("b", "/v1/ranges/+4479115", admin.OperatorRef{Operator: "b"}); !strings.Contains(detail, "dispute "+rng.ID) {
		t.Fatalf("b's claim again: %q does not name dispute %s", detail, rng.ID)
	}
	claim("c", "/v1/ranges/+4479115", admin.OperatorRef{Operator: "c"})
	c.settle()
	if seen := list(c.as("c"), ""); len(seen) != 1 || seen["+4479115"].Claimant != "c" {
		t.Fatalf("c sees %+v, want its own claim", seen)
	}
	if !c.servedEverywhere("+447911500001", "a") {
		t.Fatal("a claim moved a's numbers")
	}

	// Neither party settles.
	for _, op := range []string{"a", "b"} {
		err := c.as(op).Do(ctx, "POST", "/v1/disputes/"+rng.ID+"/settle", admin.SettleBody{Award: op}, nil)
		if api, ok := err.(*client.APIError); !ok || api.Status != 403 || api.ContentType != "application/problem+json" {
			t.Fatalf("%s settling: got %v, want 403 problem+json", op, err)
		}
	}
	if !c.servedEverywhere("+447911500001", "a") {
		t.Fatal("a refused settlement moved the numbers")
	}

	// The federation admin awards the range to b, the IP range to a.
	var settled registry.Dispute
	c.do(0, "POST", "/v1/disputes/"+rng.ID+"/settle", admin.SettleBody{Award: "b"}, &settled)
	if settled.Status != registry.DisputeSettled || settled.Award != "b" {
		t.Fatalf("settled: %+v", settled)
	}
	c.do(0, "POST", "/v1/disputes/"+ip.ID+"/settle", admin.SettleBody{Award: "a"}, nil)
	if !c.servedEverywhere("+447911500001", "b") || !c.servedEverywhere("+447911000001", "a") {
		t.Fatal("after the award, the disputed range is not b's (alone) on every replica")
	}
	if !c.ipServedEverywhere("10.71.5.1", "a") {
		t.Fatal("awarded to its holder, the IP range moved")
	}
	for _, n := range c.nodes {
		r := n.Raft().Registry()
		if d := r.Dispute(rng.ID); d == nil || d.Status != registry.DisputeSettled || d.Award != "b" {
			t.Fatalf("node %s holds dispute %+v, want it settled on b", n.cfg.NodeID, d)
		}
	}
	if err := c.admin(0).Do(ctx, "POST", "/v1/disputes/"+rng.ID+"/settle", admin.SettleBody{Award: "a"}, nil); statusOf(err) != 409 {
		t.Fatalf("settling a settled dispute: %v, want 409", err)
	}

	// The audit log names the claims, the refused settlements and the
	// settlements.
	var page registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=1000", nil, &page)
	count := map[string]int{}
	for _, e := range page.Items {
		switch {
		case e.Outcome == registry.OutcomeRefused && e.Code == registry.CodeConflict && strings.Contains(e.Reason, "dispute "+rng.ID):
			count["claim of "+e.Author.Operator]++
		case e.Command == "settle_dispute" && e.Outcome == registry.OutcomeRefused && e.Code == registry.CodeForbidden:
			count["refused settlement"]++
		case e.Command == "settle_dispute" && e.Outcome == registry.OutcomeApplied:
			count["settlement"]++
		}
	}
	if count["claim of b"] != 2 || count["refused settlement"] != 2 || count["settlement"] != 2 {
		t.Fatalf("the audit log holds %v, want b's 2 claims on the range, 2 refused settlements and 2 settlements", count)
	}
}
