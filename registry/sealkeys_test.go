package registry

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"testing"
)

func newSealKey(t *testing.T) SealKey {
	t.Helper()
	priv, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey().Bytes()
	return SealKey{ID: SealKeyID(pub), X25519: base64.RawURLEncoding.EncodeToString(pub)}
}

// Records carry only well-formed keys named by their id, and known forms.
func TestSealKeysValidated(t *testing.T) {
	k := newSealKey(t)
	other := newSealKey(t)
	for name, change := range map[string]func(o *Operator){
		"a kid that is not the key's": func(o *Operator) { o.SealKeys = []SealKey{{ID: other.ID, X25519: k.X25519}} },
		"a short key":                 func(o *Operator) { o.SealKeys = []SealKey{{ID: k.ID, X25519: k.X25519[:20]}} },
		"a key twice":                 func(o *Operator) { o.SealKeys = []SealKey{k, k} },
		"an unknown form":             func(o *Operator) { o.SubscriberIDForms = []string{"rot13"} },
		"the symmetric form, no key":  func(o *Operator) { o.SubscriberIDForms = []string{FormX25519AESGCM} },
	} {
		o := Operator{ID: "red", Name: "Red", Country: "GB", Currency: "GBP", Issuer: "https://red.example", Status: StatusActive}
		change(&o)
		if err := o.Validate(); CodeOf(err) != CodeInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

// A record without the new fields (every record written before them) is
// valid and its gateway opens RSA only; the symmetric form is opened only
// where the record says so.
func TestSubscriberIDFormsDefaultToRSA(t *testing.T) {
	o := Operator{ID: "red", Name: "Red", Country: "GB", Currency: "GBP", Issuer: "https://red.example", Status: StatusActive}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !o.Opens(FormRSAPKCS1) || o.Opens(FormX25519AESGCM) {
		t.Error("a record without subscriber_id_forms must mean RSA only")
	}
	o.SealKeys, o.SubscriberIDForms = []SealKey{newSealKey(t)}, []string{FormX25519AESGCM}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Opens(FormRSAPKCS1) || !o.Opens(FormX25519AESGCM) {
		t.Error("a record naming only the symmetric form opens RSA")
	}
}

// A gateway finds a node's keys as its record holds them after every
// write: a rotation's new key, its retired one with its not-after, a key
// dropped, and none once the node is removed.
func TestNodeSealKeyFollowsTheRecord(t *testing.T) {
	r := New()
	index := uint64(0)
	apply := func(typ CommandType, body any) {
		t.Helper()
		index++
		if err := r.Apply(index, MustEncode(typ, body)); err != nil {
			t.Fatal(err)
		}
	}
	found := func(k SealKey) bool {
		got, ok := r.NodeSealKey(k.ID)
		return ok && got == k
	}
	node := Node{ID: "n1", RaftAddr: "127.0.0.1:7000", AdminURL: "http://127.0.0.1:8000"}
	first, next := newSealKey(t), newSealKey(t)
	node.SealKeys = []SealKey{first}
	apply(CmdPutNode, node)
	if !found(first) || found(next) {
		t.Fatal("the published key is not found, or an unpublished one is")
	}
	retired := first
	retired.NotAfter = 1_800_000_000
	node.SealKeys = []SealKey{next, retired}
	apply(CmdPutNode, node)
	if !found(next) || !found(retired) {
		t.Error("after a rotation: the new key or the retired one, with its not-after, is not found")
	}
	node.SealKeys = []SealKey{next}
	apply(CmdPutNode, node)
	if found(retired) || !found(next) {
		t.Error("a dropped key is still found, or the current one is not")
	}
	apply(CmdDeleteNode, Key{Key: "n1"})
	if found(next) {
		t.Error("a removed node's key is still found")
	}
}

// BenchmarkNodeSealKey is a gateway's lookup of the sealing node's key at
// each open, among 30 nodes' keys, with no write in between.
func BenchmarkNodeSealKey(b *testing.B) {
	r := New()
	var kid string
	for i := range 30 {
		priv, err := ecdh.X25519().GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		pub := priv.PublicKey().Bytes()
		k := SealKey{ID: SealKeyID(pub), X25519: base64.RawURLEncoding.EncodeToString(pub)}
		n := Node{ID: fmt.Sprintf("n%d", i), RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i), AdminURL: "http://127.0.0.1:8000", SealKeys: []SealKey{k}}
		if err := r.Apply(uint64(i+1), MustEncode(CmdPutNode, n)); err != nil {
			b.Fatal(err)
		}
		kid = k.ID
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.NodeSealKey(kid); !ok {
			b.Fatal("not found")
		}
	}
}
