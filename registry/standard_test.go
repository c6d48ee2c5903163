package registry

import "testing"

// TestStandardCatalogueApplies: every standard scope, product and API is one
// the registry accepts, in the order the first node writes them.
func TestStandardCatalogueApplies(t *testing.T) {
	f := newFixture(t)
	scopes, products := StandardCatalogue()
	for _, s := range scopes {
		f.must(CmdPutScope, s)
	}
	for _, p := range products {
		f.must(CmdPutProduct, p)
	}
	for _, a := range StandardAPIs() {
		f.must(CmdPutAPI, a)
	}
	if a := f.r.API("premiuminfo"); a == nil || a.RatePerSP != 100 || a.BurstPerSP != 200 {
		t.Fatalf("the standard premiuminfo API: %+v", a)
	}
	if got := len(f.r.Products("", 100).Items); got != len(products) {
		t.Fatalf("%d products applied, want %d", got, len(products))
	}
	if _, ok := StandardScope("mc_kyc_hashed"); !ok {
		t.Fatal("mc_kyc_hashed is not a standard scope")
	}
	if _, ok := StandardScope("mc_atp"); ok {
		t.Fatal("mc_atp, an mcfed extension, is a standard scope")
	}
}
