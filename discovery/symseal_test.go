package discovery

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// nodeKeys is a registry of published node keys (NodeSealKeys).
type nodeKeys map[string]registry.SealKey

func (m nodeKeys) NodeSealKey(kid string) (registry.SealKey, bool) {
	k, ok := m[kid]
	return k, ok
}

func newSealKey(t testing.TB) SealKeyPair {
	t.Helper()
	priv, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewSealKeyPair(priv, time.Time{})
}

// symFixture is a discovery node N and operators A and B, each with a
// gateway key; N's key is published.
type symFixture struct {
	node, a, b SealKeyPair
	published  nodeKeys
	sealer     *symSealer
	now        time.Time
}

func newSymFixture(t testing.TB) *symFixture {
	f := &symFixture{node: newSealKey(t), a: newSealKey(t), b: newSealKey(t),
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.published = nodeKeys{f.node.ID(): f.node.Published()}
	f.sealer = newSymSealer(f.published, f.node)
	return f
}

func (f *symFixture) seal(t testing.TB, op SealKeyPair, clientID string, msisdn uint64, life time.Duration) string {
	t.Helper()
	out, err := f.sealer.seal(nil, op.Published(), clientID, msisdn, f.now.Add(life))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func (f *symFixture) opener(at time.Time) *SymOpener {
	return NewSymOpener(f.published, func() time.Time { return at })
}

// A hint sealed by node N for operator A opens at A's gateway, to the
// number, for the SP it was issued to, and nowhere else: not at B's
// gateway, not for another SP, not after its expiry, not changed in any
// byte, not from a node whose key is not in the registry.
func TestSymmetricSubscriberIDOpensOnlyWhereAndWhenSealed(t *testing.T) {
	f := newSymFixture(t)
	n := mustNumber(t, numRed)
	id := f.seal(t, f.a, "s1", n, time.Hour)
	if len(id) != 122 || strings.ToLower(id) != id || !IsSymmetric(id) {
		t.Fatalf("subscriber_id %q: want 122 lower-case hex digits", id)
	}
	if again := f.seal(t, f.a, "s1", n, time.Hour); again == id {
		t.Error("two seals of one number are equal: SPs could link users by subscriber_id")
	}
	at := f.opener(f.now)
	if got, err := at.Open([]SealKeyPair{f.a}, id, "s1"); err != nil || got != n {
		t.Fatalf("A's gateway opens %d, %v; want %d", got, err, n)
	}
	if got, err := at.Open([]SealKeyPair{f.a}, strings.ToUpper(id), "s1"); err != nil || got != n {
		t.Errorf("upper-case hex opens %d, %v", got, err)
	}
	refused := func(what string, o *SymOpener, keys []SealKeyPair, id, clientID string) {
		t.Helper()
		if got, err := o.Open(keys, id, clientID); !errors.Is(err, ErrSubscriberID) {
			t.Errorf("%s: opens %d, %v; want ErrSubscriberID", what, got, err)
		}
	}
	refused("at B's gateway", at, []SealKeyPair{f.b}, id, "s1")
	refused("used by SP s2", at, []SealKeyPair{f.a}, id, "s2")
	refused("without a client_id", at, []SealKeyPair{f.a}, id, "")
	refused("after its expiry", f.opener(f.now.Add(time.Hour+time.Second)), []SealKeyPair{f.a}, id, "s1")
	if _, err := f.opener(f.now.Add(time.Hour)).Open([]SealKeyPair{f.a}, id, "s1"); err != nil {
		t.Errorf("at its expiry: %v", err)
	}
	refused("from a node whose key is not published", NewSymOpener(nodeKeys{}, func() time.Time { return f.now }), []SealKeyPair{f.a}, id, "s1")
	raw, _ := hex.DecodeString(id)
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			refused(fmt.Sprintf("byte %d changed", i), at, []SealKeyPair{f.a}, hex.EncodeToString(b), "s1")
		}
	}
	refused("cut short", at, []SealKeyPair{f.a}, id[:120], "s1")
	refused("not hex", at, []SealKeyPair{f.a}, "zz"+id[2:], "s1")

	// A seal from a node that made its expiry far ahead is no node's.
	far := f.seal(t, f.a, "s1", n, MaxSubscriberIDLifetime+time.Hour)
	refused("an expiry past the longest lifetime", at, []SealKeyPair{f.a}, far, "s1")
}

// After the gateway's key rotates, a hint sealed to the old key still opens
// until the old key's not-after, and no longer; hints sealed to the new key
// open.
func TestSymmetricSubscriberIDAcrossRotation(t *testing.T) {
	f := newSymFixture(t)
	n := mustNumber(t, numRed)
	old := f.a
	before := f.seal(t, old, "s1", n, 2*time.Hour)
	next := newSealKey(t)
	old.NotAfter = f.now.Add(time.Hour)
	keys := []SealKeyPair{next, old}
	after := f.seal(t, next, "s1", n, 2*time.Hour)
	for what, id := range map[string]string{"before": before, "after": after} {
		if got, err := f.opener(f.now.Add(30*time.Minute)).Open(keys, id, "s1"); err != nil || got != n {
			t.Errorf("sealed %s the rotation: opens %d, %v", what, got, err)
		}
	}
	if _, err := f.opener(f.now.Add(90*time.Minute)).Open(keys, before, "s1"); !errors.Is(err, ErrSubscriberID) {
		t.Errorf("a hint sealed to the retired key opens after its not-after: %v", err)
	}
	if _, err := f.opener(f.now.Add(90*time.Minute)).Open(keys, after, "s1"); err != nil {
		t.Errorf("a hint sealed to the new key: %v", err)
	}
}

// sealedBy is the id of the node key that sealed the symmetric
// subscriber_id id.
func sealedBy(t testing.TB, id string) string {
	t.Helper()
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != symSealedLen {
		t.Fatalf("subscriber_id %q is not the symmetric form", id)
	}
	return base64.RawURLEncoding.EncodeToString(raw[1 : 1+symKidLen])
}

// After the discovery node's key rotates, the replaced key seals until the
// new one is published (never past its own NotAfter), then the new one
// does; what either sealed opens, the replaced key's until its NotAfter.
// A value the replaced key sealed to outlive its NotAfter (a leaked key's
// forgery: the node never seals one) is refused while its own expiry is
// still ahead, and a node key dropped from the registry stops opening at
// once, though its agreed key is cached.
func TestSymmetricSubscriberIDAcrossNodeKeyRotation(t *testing.T) {
	f := newSymFixture(t)
	n := mustNumber(t, numRed)
	at := f.now
	open := NewSymOpener(f.published, func() time.Time { return at })
	opens := func(what, id string) {
		t.Helper()
		if got, err := open.Open([]SealKeyPair{f.a}, id, "s1"); err != nil || got != n {
			t.Errorf("%s, at %s: opens %d, %v", what, at.Sub(f.now), got, err)
		}
	}
	refused := func(what, id string) {
		t.Helper()
		if got, err := open.Open([]SealKeyPair{f.a}, id, "s1"); !errors.Is(err, ErrSubscriberID) {
			t.Errorf("%s, at %s: opens %d, %v; want ErrSubscriberID", what, at.Sub(f.now), got, err)
		}
	}
	before := f.seal(t, f.a, "s1", n, 2*time.Hour)
	opens("sealed before the rotation", before)

	next := newSealKey(t)
	retired := NewSealKeyPair(f.node.Private, f.now.Add(MaxSubscriberIDLifetime+clockSkew))
	f.sealer.keys.Store(&[]SealKeyPair{next, retired})
	f.published[retired.ID()] = retired.Published()
	during := f.seal(t, f.a, "s1", n, 2*time.Hour)
	if got := sealedBy(t, during); got != retired.ID() {
		t.Errorf("before the new key is published, %s seals; want the replaced key %s", got, retired.ID())
	}
	if _, err := f.sealer.seal(nil, f.a.Published(), "s1", n, retired.NotAfter.Add(time.Second)); err == nil {
		t.Error("the replaced key sealed a subscriber_id that outlives its not-after")
	}
	f.published[next.ID()] = next.Published()
	after := f.seal(t, f.a, "s1", n, 2*time.Hour)
	if got := sealedBy(t, after); got != next.ID() {
		t.Errorf("once the new key is published, %s seals; want it, %s", got, next.ID())
	}
	at = f.now.Add(30 * time.Minute)
	for what, id := range map[string]string{"sealed before the rotation": before,
		"sealed by the replaced key before the new one was published": during, "sealed after": after} {
		opens(what, id)
	}

	last, err := newSymSealer(f.published, retired).seal(nil, f.a.Published(), "s1", n, retired.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := newSymSealer(f.published, NewSealKeyPair(f.node.Private, time.Time{})).seal(nil, f.a.Published(), "s1", n, retired.NotAfter.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	at = retired.NotAfter.Add(-time.Hour)
	refused("sealed by the replaced key to outlive its not-after", string(forged))
	at = retired.NotAfter
	opens("sealed by the replaced key to expire at its not-after", string(last))
	at = retired.NotAfter.Add(time.Second)
	refused("sealed by the replaced key, after its not-after", string(last))

	at = f.now.Add(time.Hour)
	opens("sealed before the rotation", before)
	delete(f.published, retired.ID())
	refused("sealed by a key dropped from the registry", before)
	opens("sealed by the current key", after)
}

// symRegistry is testRegistry with node N's key published and red's
// gateway opening the symmetric form; blue's record predates the new keys.
func symRegistry(t *testing.T, node, red SealKeyPair, publishNode bool) *registry.Registry {
	reg := testRegistry(t)
	a := &applier{t: t, r: reg, index: reg.AppliedIndex()}
	if publishNode {
		a.must(registry.CmdPutNode, registry.Node{ID: "n1", RaftAddr: "127.0.0.1:7000", AdminURL: "http://127.0.0.1:8000",
			SealKeys: []registry.SealKey{node.Published()}})
	}
	o := *reg.Operator("red")
	o.SealKeys = []registry.SealKey{red.Published()}
	o.SubscriberIDForms = []string{registry.FormX25519AESGCM, registry.FormRSAPKCS1}
	a.must(registry.CmdPutOperator, o)
	return reg
}

// Discovery seals in the symmetric form for an operator whose gateway opens
// it, bound to the asking SP; in RSA for an operator whose record does not
// name the form (its gateway is not mcfed, or predates the form), and in RSA
// while this node's own key is not in the registry yet (no gateway could
// open what it sealed).
func TestDiscoveryPicksTheFormTheGatewayOpens(t *testing.T) {
	node, red := newSealKey(t), newSealKey(t)
	ask := func(s *server, number string) string {
		r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: number, correlation: testCorrelation})...)
		return javaSDK.read200(t, r, testCorrelation).subscriberID
	}

	reg := symRegistry(t, node, red, true)
	s := startServerConfig(t, Config{Registry: reg, SealKey: &node})
	id := ask(s, numRed)
	open := NewSymOpener(reg, s.clock.now)
	if n, err := open.Open([]SealKeyPair{red}, id, shopID); err != nil || n != mustNumber(t, numRed) {
		t.Fatalf("red's subscriber_id %q opens to %d, %v at red's gateway", id, n, err)
	}
	if _, err := open.Open([]SealKeyPair{red}, id, "everywhere"); err == nil {
		t.Error("red's subscriber_id opens for another SP")
	}
	// The default lifetime is the answer's: it opens until the answer's
	// ttl and not after.
	s.clock.advance(time.Hour)
	if _, err := open.Open([]SealKeyPair{red}, id, shopID); err != nil {
		t.Errorf("at the answer's ttl: %v", err)
	}
	s.clock.advance(time.Second)
	if _, err := open.Open([]SealKeyPair{red}, id, shopID); err == nil {
		t.Error("a subscriber_id opens after the answer's ttl")
	}

	id = ask(s, numPorted) // blue: no forms in its record
	if n, err := Open(testKeys()["blue"], id); err != nil || n != mustNumber(t, numPorted) {
		t.Errorf("blue's subscriber_id %q does not open with its RSA key: %d, %v", id, n, err)
	}

	unpublished := startServerConfig(t, Config{Registry: symRegistry(t, node, red, false), SealKey: &node})
	id = ask(unpublished, numRed)
	if n, err := Open(testKeys()["red"], id); err != nil || n != mustNumber(t, numRed) {
		t.Errorf("before the node's key is published: subscriber_id %q does not open with red's RSA key: %d, %v", id, n, err)
	}
}
