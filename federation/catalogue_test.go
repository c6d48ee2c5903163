package federation

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// waitCatalogue waits until n's replica holds the standard catalogue the
// first node seeds (its last row, the last API).
func waitCatalogue(t testing.TB, n *Node) {
	t.Helper()
	apis := registry.StandardAPIs()
	last := apis[len(apis)-1].ID
	deadline := time.Now().Add(15 * time.Second)
	for n.Raft().Registry().API(last) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("node %s: the standard catalogue was not seeded", n.cfg.NodeID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBootstrapSeedsTheStandardCatalogue: a new federation holds the
// Mobile Connect scopes and products on every node, so an SP is registered
// with openid at once; an SP without scopes is refused, with the scopes
// it could have.
func TestBootstrapSeedsTheStandardCatalogue(t *testing.T) {
	f := startFed(t, 3)
	scopes, products := registry.StandardCatalogue()
	for _, n := range f.nodes {
		waitCatalogue(t, n)
		reg := n.Raft().Registry()
		for _, want := range scopes {
			got := reg.Scope(want.Name)
			if got == nil || !slices.Equal(got.Claims, want.Claims) || got.Description != want.Description {
				t.Fatalf("node %s: scope %s is %+v, want %+v", n.cfg.NodeID, want.Name, got, want)
			}
		}
		for _, want := range products {
			got := reg.Product(want.ID)
			if got == nil || !slices.Equal(got.Scopes, want.Scopes) || got.MinLoA != want.MinLoA {
				t.Fatalf("node %s: product %s is %+v, want %+v", n.cfg.NodeID, want.ID, got, want)
			}
		}
	}
	for _, want := range registry.StandardAPIs() {
		if got := f.nodes[2].Raft().Registry().API(want.ID); got == nil || got.RatePerSP != want.RatePerSP || !slices.Equal(got.Products, want.Products) {
			t.Fatalf("API %s is %+v, want %+v", want.ID, got, want)
		}
	}
	if p := f.nodes[1].Raft().Registry().Product("kyc-match"); !slices.Contains(p.Scopes, "mc_kyc_plain") {
		t.Fatalf("KYC Match grants %v", p.Scopes)
	}

	sp := map[string]any{"name": "Shop", "redirect_uris": []string{"https://shop.example/cb"}, "scopes": []string{"openid"}}
	f.do(1, "PUT", "/v1/service-providers/shop", sp, nil)
	if got := f.nodes[1].Raft().Registry().ServiceProvider("shop"); got == nil || !slices.Equal(got.Scopes, []string{"openid"}) {
		t.Fatalf("the SP registered with openid is %+v", got)
	}

	for _, scopes := range []any{nil, []string{}} {
		body := map[string]any{"name": "Bare", "redirect_uris": []string{"https://bare.example/cb"}}
		if scopes != nil {
			body["scopes"] = scopes
		}
		api := f.problemOf(0, "PUT", "/v1/service-providers/bare", body)
		if api.Status != 400 || !strings.Contains(api.Problem.Detail, "openid, ") || !strings.Contains(api.Problem.Detail, "mc_authn") {
			t.Fatalf("an SP without scopes (%v): %d %q, want 400 naming the catalogue's scopes", scopes, api.Status, api.Problem.Detail)
		}
	}
	if f.nodes[0].Raft().Registry().ServiceProvider("bare") != nil {
		t.Fatal("the SP without scopes was registered")
	}
}

// TestCatalogueSeedKeepsAdminChanges: the catalogue is seeded once; what
// the federation admin changed and deleted stays so when the first node
// starts again and looks at it.
func TestCatalogueSeedKeepsAdminChanges(t *testing.T) {
	f := startFed(t, 1)
	waitCatalogue(t, f.nodes[0])
	changed := registry.Scope{Name: "profile", Description: "names only", Claims: []string{"name"}}
	f.do(0, "PUT", "/v1/scopes/profile", changed, nil)
	f.do(0, "DELETE", "/v1/products/authenticate-plus", nil, nil)

	cfg := f.nodes[0].cfg
	f.nodes[0].Close()
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.nodes[0] = n
	// What the node's start runs, waited for here.
	n.seedCatalogue(context.Background())

	reg := n.Raft().Registry()
	if got := reg.Scope("profile"); got == nil || got.Description != changed.Description || !slices.Equal(got.Claims, changed.Claims) {
		t.Fatalf("after a restart the admin's profile scope is %+v, want %+v", got, changed)
	}
	if reg.Product("authenticate-plus") != nil {
		t.Fatal("after a restart the product the admin deleted is back")
	}
}
