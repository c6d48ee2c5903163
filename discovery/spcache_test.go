package discovery

import (
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// Discovery keeps what it read of an SP between registry commands
// (spcache.go): an operator's policy, a redirect URI taken away and a
// suspension are answered with at the next request, and undone as fast.
func TestAnswersFollowSPStanding(t *testing.T) {
	reg := testRegistry(t)
	s := startServer(t, reg)
	ask := func() *result {
		return s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation})...)
	}
	javaSDK.read200(t, ask(), testCorrelation) // fill the caches
	javaSDK.read200(t, ask(), testCorrelation) // and answer from them

	a := &applier{t: t, r: reg, index: reg.AppliedIndex()}
	a.must(registry.CmdPutSPPolicy, registry.SPPolicy{Operator: "red", ClientID: shopID, Declined: true})
	if code, _ := javaSDK.readError(t, ask(), testCorrelation, 404); code != codeNotFound {
		t.Errorf("red declined the shop: %s, want %s", code, codeNotFound)
	}
	a.must(registry.CmdDeleteSPPolicy, registry.PolicyKey{Operator: "red", ClientID: shopID})
	javaSDK.read200(t, ask(), testCorrelation)

	sp := *reg.ServiceProvider(shopID)
	sp.RedirectURIs = []string{shopAppURI}
	a.must(registry.CmdPutSP, sp)
	javaSDK.readError(t, ask(), testCorrelation, 400)

	sp.RedirectURIs, sp.Status = []string{shopRedirect}, registry.StatusSuspended
	a.must(registry.CmdPutSP, sp)
	javaSDK.readError(t, ask(), testCorrelation, 401)

	sp.Status = registry.StatusActive
	a.must(registry.CmdPutSP, sp)
	javaSDK.read200(t, ask(), testCorrelation)
}
