package federation

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// waitSymmetric waits until node's replica holds its own published seal
// key and operator's record opening the symmetric form: from then on its
// discovery seals in that form for operator.
func waitSymmetric(f *testFed, node *Node, operator string) {
	f.waitFor("the node's seal key and "+operator+"'s symmetric form to be published", func() bool {
		reg := node.Raft().Registry()
		self, op := reg.Node(node.cfg.NodeID), reg.Operator(operator)
		return self != nil && len(self.SealKeys) == 1 && op != nil && len(op.SealKeys) > 0 &&
			slices.Contains(op.SubscriberIDForms, registry.FormX25519AESGCM)
	})
}

// authorizeAt sends the SP clientID's authorization request with
// login_hint to node's gateway, and returns the status and the Location.
func authorizeAt(t *testing.T, node *Node, clientID, loginHint string) (int, string) {
	t.Helper()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {onboardRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "state": {"state-123"}, "nonce": {"nonce-123"}, "acr_values": {"2"},
		"version": {"mc_v1.1"}, "login_hint": {loginHint}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(node.PublicURL() + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// A node publishes its seal key and an operator's node its gateway's; the
// subscriber_id discovery then hands the SP is the symmetric form, and the
// operator's gateway answers it as login hint exactly as it answers the
// number in clear (green has no authenticator for the subscriber: both
// end in the same access_denied, after the number is known), for that SP
// only: another SP with the same hint gets the answer any undecryptable
// hint gets. The e2e login tests run whole logins with it.
func TestSymmetricSubscriberIDLogin(t *testing.T) {
	f, green, _ := startRoutableGreen(t)
	f.do(0, "PUT", "/v1/service-providers/mall", map[string]any{"name": "Mall", "client_secret": onboardSPSecret,
		"redirect_uris": []string{onboardRedirect}, "scopes": []string{"openid", "mc_authn"}, "operators": []string{"*"}}, nil)
	f.waitFor("the mall to reach green's node", func() bool {
		return green.Raft().Registry().ServiceProvider("mall") != nil
	})
	waitSymmetric(f, green, "green")
	status, _, id := discoverSealed(t, green, greenNumber)
	if status != 200 || !discovery.IsSymmetric(id) {
		t.Fatalf("discovery: %d, subscriber_id %q; want the symmetric form", status, id)
	}

	clearStatus, clearLoc := authorizeAt(t, green, "shop", "MSISDN:"+strings.TrimPrefix(greenNumber, "+"))
	sealedStatus, sealedLoc := authorizeAt(t, green, "shop", "ENCR_MSISDN:"+id)
	if sealedStatus != clearStatus || sealedLoc != clearLoc {
		t.Fatalf("with the sealed hint: %d %q; with the number in clear: %d %q", sealedStatus, sealedLoc, clearStatus, clearLoc)
	}

	badStatus, badLoc := authorizeAt(t, green, "mall", "ENCR_MSISDN:"+strings.Repeat("ab", len(id)/2))
	otherStatus, otherLoc := authorizeAt(t, green, "mall", "ENCR_MSISDN:"+id)
	if otherStatus != badStatus || otherLoc != badLoc || otherLoc == clearLoc {
		t.Fatalf("another SP's hint: %d %q; an undecryptable one: %d %q", otherStatus, otherLoc, badStatus, badLoc)
	}
}

// The gateway's opener takes both forms during the transition: an RSA hint
// (from a discovery node without the symmetric form, or sealed before it)
// and a symmetric one, for its SP; after a rotation, hints sealed to the
// replaced keys of either form still open, and a restart keeps that.
func TestGatewayOpensBothFormsAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	nodeKeys, err := openNodeSealKeys(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	node := nodeKeys.current()
	reg := registry.New()
	if err := reg.Apply(1, registry.MustEncode(registry.CmdPutNode, registry.Node{ID: "n1", RaftAddr: "127.0.0.1:7000",
		AdminURL: "http://127.0.0.1:8000", SealKeys: []registry.SealKey{node.Published()}})); err != nil {
		t.Fatal(err)
	}
	store := openTestState(t)
	cfg := Config{DataDir: dir, OperatorID: "green"}
	ring, k, vault, err := openOperatorKeys(context.Background(), cfg, store, reg)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e164.Parse(greenNumber)
	// What a discovery node seals, in either form.
	seal := func(k *sealingKeys, symmetric bool) string {
		t.Helper()
		if !symmetric {
			id, err := discovery.Seal(&k.current.PublicKey, want)
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		id, err := discovery.SealSymmetric(node, k.publishedSealKeys(time.Now())[0], "shop", want, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	rsaBefore, symBefore := seal(k, false), seal(k, true)
	if err := k.rotate(); err != nil {
		t.Fatal(err)
	}
	if err := vault.save(context.Background(), ring, k); err != nil {
		t.Fatal(err)
	}
	rsaAfter, symAfter := seal(k, false), seal(k, true)
	// A restart: the keys come from the store again.
	_, again, _, err := openOperatorKeys(context.Background(), cfg, store, reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []*sealingKeys{k, again} {
		for name, id := range map[string]string{"RSA before": rsaBefore, "RSA after": rsaAfter,
			"symmetric before": symBefore, "symmetric after": symAfter} {
			if got, err := g.OpenLoginHint(id, "shop"); err != nil || got != want {
				t.Errorf("%s the rotation: opens to %d, %v", name, got, err)
			}
		}
		if _, err := g.OpenLoginHint(symAfter, "mall"); !errors.Is(err, discovery.ErrSubscriberID) {
			t.Errorf("a symmetric hint for the shop opens for the mall: %v", err)
		}
	}
}
