package registry

import (
	"crypto/ecdh"
	"encoding/base64"
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
