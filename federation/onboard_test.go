package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

const (
	onboardSPSecret = "shop-secret-0123456789abcdefghijklmnop"
	onboardRedirect = "https://shop.example/cb"
	greenNumber     = "+447400123456"
)

var greenProfile = &OperatorProfile{
	Name: "Green Mobile", Country: "GB", Currency: "GBP", Networks: []string{"234_77"},
	Ranges: []string{"+447400", "+447401"}, IPRanges: []string{"10.7.0.0/16"},
}

// startProfiledNode starts a node that joins f as operator id's gateway,
// registering profile.
func startProfiledNode(t *testing.T, f *testFed, id string, profile *OperatorProfile) (*Node, Config) {
	t.Helper()
	cfg := testNodeConfig(t, "node-"+id, filepath.Join(t.TempDir(), id))
	cfg.PublicAddr, cfg.OperatorID, cfg.Operator = "127.0.0.1:0", id, profile
	cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, cfg.NodeID, id)
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, cfg
}

// restartNode closes n and starts it again from its data directory on the
// same addresses, as a real node's restart keeps them.
func restartNode(t *testing.T, n *Node, cfg Config) *Node {
	t.Helper()
	n.Close()
	cfg.Join, cfg.JoinToken = "", ""
	cfg.RaftAddr, cfg.AdminAddr = n.Raft().Addr(), strings.TrimPrefix(n.AdminURL(), "http://")
	cfg.PublicAddr = strings.TrimPrefix(n.PublicURL(), "http://")
	again, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	return again
}

// startRoutableGreen starts a one-node federation with the shop SP and
// green's node joined to it, once discovery routes green's number.
func startRoutableGreen(t *testing.T) (*testFed, *Node, Config) {
	t.Helper()
	f := startFed(t, 1)
	seedShop(f)
	green, cfg := startProfiledNode(t, f, "green", greenProfile)
	f.waitFor("green to be routable", func() bool {
		status, _ := discover(t, green, greenNumber)
		return status == 200
	})
	return f, green, cfg
}

// seedShop registers an SP every operator accepts, with scopes of the
// standard catalogue.
func seedShop(f *testFed) {
	waitCatalogue(f.t, f.nodes[0])
	f.do(0, "PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "client_secret": onboardSPSecret,
		"redirect_uris": []string{onboardRedirect}, "scopes": []string{"openid", "mc_authn", "profile"},
		"operators": []string{"*"}}, nil)
}

// discover asks node's discovery for number as the shop and returns the
// status and the serving operator's issuer as discovery hands it out.
func discover(t *testing.T, node *Node, number string) (int, string) {
	t.Helper()
	status, issuer, _ := discoverSealed(t, node, number)
	return status, issuer
}

// discoverSealed is discover, with the subscriber_id discovery sealed.
func discoverSealed(t *testing.T, node *Node, number string) (int, string, string) {
	t.Helper()
	status, a := discoverAt(t, node, "shop", onboardSPSecret, number, onboardRedirect)
	return status, a.Links()["issuer"], a.SubscriberID
}

func jwksKids(t *testing.T, raw []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

func servedKids(t *testing.T, n *Node) []string {
	t.Helper()
	resp, err := http.Get(n.PublicURL() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	return jwksKids(t, raw)
}

// TestOperatorJoinsSuspendsAndLeaves: an operator joins with one node and a
// profile, and is discoverable from every node once that is committed; a
// suspension stops discovery and survives the operator's restart; leaving
// removes its records and its node.
func TestOperatorJoinsSuspendsAndLeaves(t *testing.T) {
	f := startFed(t, 2)
	seedShop(f)
	green, cfg := startProfiledNode(t, f, "green", greenProfile)
	// Node 0's replica, read anew each time: a snapshot restore replaces it.
	reg := f.nodes[0].Raft().Registry
	num, _ := e164.Parse(greenNumber)
	f.waitFor("green's record, ranges and node mark to reach node 1", func() bool {
		reg := reg()
		o := reg.Operator("green")
		res, ok := reg.Resolve(num)
		self := reg.Node("node-green")
		return o != nil && ok && res.Operator.ID == "green" && self != nil && self.Operator == "green" &&
			reg.IPRange("10.7.0.0/16") != nil
	})
	o := reg().Operator("green")
	if o.Issuer != green.PublicURL() || !strings.Contains(o.SealingKey, "PUBLIC KEY") || o.Name != "Green Mobile" || o.Status != registry.StatusActive {
		t.Fatalf("registered record: %+v", o)
	}
	if got, want := jwksKids(t, o.JWKS), servedKids(t, green); !slices.Equal(got, want) || len(want) != 3 {
		t.Fatalf("registered JWKS kids %v, the gateway serves %v", got, want)
	}
	if status, issuer := discover(t, green, greenNumber); status != 200 || issuer != green.PublicURL() {
		t.Fatalf("discovery for green's number: %d issuer %q", status, issuer)
	}

	// Suspended: discovery stops routing; a restart does not lift it.
	f.do(1, "POST", "/v1/operators/green/suspend", nil, nil)
	f.waitFor("the suspension to reach green's node", func() bool {
		o := green.Raft().Registry().Operator("green")
		return o != nil && o.Status == registry.StatusSuspended
	})
	if status, _ := discover(t, green, greenNumber); status == 200 {
		t.Fatal("discovery routes to a suspended operator")
	}
	green = restartNode(t, green, cfg)
	<-green.onboarded // its registration has run: a wrong one would have written by now
	// What green wrote, it has applied: node 0 has once it reaches green's
	// index.
	f.waitApplied(0, green.Raft().Registry().AppliedIndex())
	if st := reg().Operator("green").Status; st != registry.StatusSuspended {
		t.Fatalf("the operator's restart changed its status to %s", st)
	}
	f.do(0, "POST", "/v1/operators/green/activate", nil, nil)
	f.waitFor("green to be routable again", func() bool {
		status, _ := discover(t, green, greenNumber)
		return status == 200
	})

	// Leaving: through the leader (421 elsewhere); records and node go. The
	// leaving node itself hands leadership over first if it leads. Asked
	// while it does not lead, green's node answers 421; asked while it
	// leads, 503: neither removes anything, so the check is safe whatever
	// elections happen meanwhile.
	// The federation admin takes an operator out, on whichever node.
	leaveThrough := func(n *Node, out any) error {
		return (&client.Admin{Base: n.AdminURL(), Token: f.fedToken}).Do(context.Background(), "POST", "/v1/operators/green/leave", nil, out)
	}
	f.waitFor("green's node to refuse the leave as a follower", func() bool {
		err := leaveThrough(green, nil)
		api, ok := err.(*client.APIError)
		if !ok || (api.Status != 421 && api.Status != 503) {
			t.Fatalf("leave through the leaving node: %v", err)
		}
		return api.Status == 421
	})
	var out struct {
		RemovedNodes []string `json:"removed_nodes"`
	}
	leader := -1
	f.waitFor("green to leave through the leader", func() bool {
		if green.Raft().IsLeader() {
			if api, ok := leaveThrough(green, nil).(*client.APIError); !ok || api.Status != 503 {
				t.Fatalf("leave through the leaving, leading node: %v", api)
			}
			return false
		}
		if leader = f.leaderIndex(); leader < 0 {
			return false
		}
		err := leaveThrough(f.nodes[leader], &out)
		if api, ok := err.(*client.APIError); ok && (api.Status == 421 || api.Status == 503) {
			return false // the leadership moved meanwhile: ask the new leader
		} else if err != nil {
			t.Fatal(err)
		}
		return true
	})
	if !slices.Equal(out.RemovedNodes, []string{"node-green"}) {
		t.Fatalf("removed nodes %v", out.RemovedNodes)
	}
	f.waitApplied(0, f.nodes[leader].Raft().Registry().AppliedIndex())
	reg2 := reg()
	if reg2.Operator("green") != nil || reg2.IPRange("10.7.0.0/16") != nil || reg2.Node("node-green") != nil {
		t.Fatal("green's records stayed after it left")
	}
	if _, ok := reg2.Resolve(num); ok {
		t.Fatal("green's numbers still resolve after it left")
	}
	f.waitFor("the Raft configuration to drop green's node", func() bool {
		var st struct {
			Raft struct {
				Members []struct {
					ID string `json:"id"`
				} `json:"members"`
			} `json:"raft"`
		}
		f.do(leader, "GET", "/v1/cluster/status", nil, &st)
		for _, s := range st.Raft.Members {
			if s.ID == "node-green" {
				return false
			}
		}
		return len(st.Raft.Members) == 2
	})
}

// TestOperatorDeclinesAnSP: an operator's decline stops discovery sending
// the SP to it and its gateway refusing the SP, while other operators keep
// the SP; deleting the policy restores it. No per-operator step is needed to
// accept an SP in the first place.
func TestOperatorDeclinesAnSP(t *testing.T) {
	f, green, _ := startRoutableGreen(t)
	authorize := func() *http.Response {
		q := url.Values{"client_id": {"shop"}, "redirect_uri": {onboardRedirect}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "state": {"state-123"}, "nonce": {"nonce-123"}, "acr_values": {"2"},
			"version": {"mc_v1.1"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(greenNumber, "+")}}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(green.PublicURL() + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	f.do(0, "PUT", "/v1/operators/green/sp-policies/shop", map[string]any{"declined": true}, nil)
	f.waitFor("the decline to reach green's node", func() bool {
		return green.Raft().Registry().SPPolicy("green", "shop") != nil
	})
	if status, _ := discover(t, green, greenNumber); status == 200 {
		t.Fatal("discovery sends a declined SP to the operator")
	}
	if resp := authorize(); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the declining operator's gateway answered the SP's authorization request with %d", resp.StatusCode)
	}

	// Limited to openid + profile: mc_authn is no longer the SP's here, and
	// asking for it is answered as for any scope the SP may not ask for.
	f.do(0, "PUT", "/v1/operators/green/sp-policies/shop", map[string]any{"scopes": []string{"openid", "profile"}}, nil)
	f.waitFor("the limit to reach green's node", func() bool {
		p := green.Raft().Registry().SPPolicy("green", "shop")
		return p != nil && !p.Declined
	})
	if status, _ := discover(t, green, greenNumber); status != 200 {
		t.Fatalf("a limited SP is not routed: %d", status)
	}
	resp := authorize()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "state-123" {
		t.Fatalf("a scope the operator withheld: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	f.do(0, "DELETE", "/v1/operators/green/sp-policies/shop", nil, nil)
	f.waitFor("the policy's removal to reach green's node", func() bool {
		return green.Raft().Registry().SPPolicy("green", "shop") == nil
	})
	if status, _ := discover(t, green, greenNumber); status != 200 {
		t.Fatalf("after the policy's removal discovery answers %d", status)
	}
}

// TestSigningKeysRotateWithoutDowntime: a rotation publishes the new keys
// at once and keeps the old ones published until their tokens expire, in
// the gateway's /jwks and the operator's registry record alike.
func TestSigningKeysRotateWithoutDowntime(t *testing.T) {
	f := startFed(t, 1)
	green, _ := startProfiledNode(t, f, "green", greenProfile)
	// Node 0's replica, read anew each time: a snapshot restore replaces it.
	reg := f.nodes[0].Raft().Registry
	// Rotate once the node's own publication is done, so that the keys the
	// record names are the ones it started with.
	<-green.onboarded
	f.waitFor("green's record", func() bool { return reg().Operator("green") != nil })
	before := servedKids(t, green)

	const period = 30 * 24 * time.Hour
	now := time.Now().Add(period + time.Minute)
	if err := green.rotateKeys(context.Background(), now, period); err != nil {
		t.Fatal(err)
	}
	after := servedKids(t, green)
	if len(after) != 2*len(before) {
		t.Fatalf("after rotation /jwks has %v, before %v: want the old keys and a new one per algorithm", after, before)
	}
	for _, k := range before {
		if !slices.Contains(after, k) {
			t.Fatalf("old key %s was unpublished at rotation: tokens it signed would fail to verify", k)
		}
	}
	f.waitFor("the record's JWKS to follow", func() bool {
		return slices.Equal(jwksKids(t, reg().Operator("green").JWKS), after)
	})

	// Once every token the old keys signed has expired, they go.
	if err := green.rotateKeys(context.Background(), now.Add(maxTokenLifetime+time.Minute), period); err != nil {
		t.Fatal(err)
	}
	final := servedKids(t, green)
	for _, k := range before {
		if slices.Contains(final, k) {
			t.Fatalf("old key %s still published after its tokens expired", k)
		}
	}
	f.waitFor("the record's JWKS to drop the old keys", func() bool {
		return slices.Equal(jwksKids(t, reg().Operator("green").JWKS), final)
	})
}

// TestSealingKeyRotatesWithoutDowntime: after the operator rotates its
// subscriber_id key, discovery seals with the new key everywhere, and the
// gateway opens subscriber_ids sealed with either key, across a restart.
func TestSealingKeyRotatesWithoutDowntime(t *testing.T) {
	f, green, cfg := startRoutableGreen(t)
	want, _ := e164.Parse(greenNumber)
	waitSymmetric(f, green, "green")
	_, _, before := discoverSealed(t, green, greenNumber)
	oldKey := f.nodes[0].Raft().Registry().Operator("green").SealingKey

	if p := f.problemOf(0, "POST", "/v1/operator/keys/rotate", map[string]bool{"sealing": true}); p.Status != 404 {
		t.Fatalf("rotating on a node that serves no operator: %+v", p)
	}
	greenAdmin := &client.Admin{Base: green.AdminURL(), Token: testAdminToken}
	if err := greenAdmin.Do(context.Background(), "POST", "/v1/operator/keys/rotate", map[string]bool{"sealing": true}, nil); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the new sealing key to reach node 1", func() bool {
		o := f.nodes[0].Raft().Registry().Operator("green")
		return o.SealingKey != oldKey
	})
	_, _, after := discoverSealed(t, green, greenNumber)
	if !discovery.IsSymmetric(before) || !discovery.IsSymmetric(after) {
		t.Fatalf("subscriber_ids %q, %q: want the symmetric form green's gateway opens", before, after)
	}
	if got, err := green.sealing.sym.Open(green.sealing.x25519[:1], before, "shop"); err == nil {
		t.Fatalf("the new key opened an id sealed before the rotation (%d): the key did not change", got)
	}
	check := func(n *Node) {
		for name, id := range map[string]string{"before": before, "after": after} {
			if got, err := n.sealing.OpenLoginHint(id, "shop"); err != nil || got != want {
				t.Fatalf("subscriber_id sealed %s the rotation opens to %d, %v", name, got, err)
			}
		}
	}
	check(green)

	// The symmetric form's opener finds the sealing node's key in the
	// replica, which a restarted node has once it has caught up.
	again := restartNode(t, green, cfg)
	waitSymmetric(f, again, "green")
	check(again)
}

// TestOnboardingTakesNothingOfAnotherOperator: a profile's range inside
// another operator's range, or its IP range inside another's, is not
// taken: each is a dispute for the federation admin; and a second node
// started with an operator's id does not take the operator over.
func TestOnboardingTakesNothingOfAnotherOperator(t *testing.T) {
	f := startFed(t, 1)
	f.do(0, "PUT", "/v1/operators/red", demoOperator("red", "234_10"), nil)
	f.do(0, "POST", "/v1/ranges/import", strings.NewReader("prefix,operator\n+4477,red\n"), nil)
	f.do(0, "POST", "/v1/ip-ranges", registry.IPRange{CIDR: "10.8.0.0/16", Operator: "red"}, nil)

	grabby := &OperatorProfile{Name: "Green Mobile", Country: "GB", Currency: "GBP", Networks: []string{"234_77"},
		Ranges: []string{"+447700", "+447400"}, IPRanges: []string{"10.8.1.0/24", "10.7.0.0/16"}}
	green, _ := startProfiledNode(t, f, "green", grabby)
	<-green.onboarded
	reg := f.nodes[0].Raft().Registry()
	f.waitFor("green's own range and IP range", func() bool {
		return reg.Range("+447400") != nil && reg.IPRange("10.7.0.0/16") != nil
	})
	if res, _ := reg.Resolve(mustMSISDN(t, "+447700123456")); res.Operator == nil || res.Operator.ID != "red" {
		t.Fatalf("+447700123456 in red's +4477 now resolves to %+v", res.Operator)
	}
	if reg.Range("+447700") != nil || reg.IPRange("10.8.1.0/24") != nil {
		t.Fatal("a range inside another operator's was registered")
	}
	var disputes registry.Page[registry.Dispute]
	f.do(0, "GET", "/v1/disputes?status=open", nil, &disputes)
	claimed := map[string]string{}
	for _, d := range disputes.Items {
		if d.Claimant != "green" || d.Holder != "red" {
			t.Fatalf("dispute %+v is not green's claim on red's", d)
		}
		claimed[d.Kind] = d.Range + " in " + d.HolderRange
	}
	if want := map[string]string{registry.DisputeRange: "+447700 in +4477", registry.DisputeIPRange: "10.8.1.0/24 in 10.8.0.0/16"}; len(disputes.Items) != 2 || !reflect.DeepEqual(claimed, want) {
		t.Fatalf("open disputes %+v, want green's two claims on red's ranges", disputes.Items)
	}

	// A second node claiming to be green is not admitted: green has a
	// node, whose credential acts for it. It has a node id of its own: a
	// join reusing a member's id moves that member, which is the join's
	// business, not onboarding's.
	before := reg.Operator("green")
	cfg := testNodeConfig(t, "node-green-imposter", filepath.Join(t.TempDir(), "imposter"))
	cfg.PublicAddr, cfg.OperatorID, cfg.Operator = "127.0.0.1:0", "green", grabby
	cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, cfg.NodeID, "green")
	imposter, err := Start(context.Background(), cfg)
	if err == nil {
		imposter.Close()
		t.Fatal("a second node serving green was admitted")
	}
	if !strings.Contains(err.Error(), "operator green is served by node node-green") {
		t.Fatalf("the imposter's join failed with %v, want a refusal naming green's node", err)
	}
	if reg.Node("node-green-imposter") != nil || reg.Credential("node:node-green-imposter") != nil {
		t.Fatal("the refused join left a record or a credential")
	}
	after := reg.Operator("green")
	if after.ModifyIndex != before.ModifyIndex || after.Issuer != green.PublicURL() || after.SealingKey != before.SealingKey {
		t.Fatalf("a second node took the operator over: issuer %s (green's node is %s)", after.Issuer, green.PublicURL())
	}
}

func mustMSISDN(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := e164.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
