package jose

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

type idClaims struct {
	Iss   string   `json:"iss"`
	Sub   string   `json:"sub"`
	Aud   []string `json:"aud"`
	Exp   int64    `json:"exp"`
	Iat   int64    `json:"iat"`
	Nonce string   `json:"nonce"`
	Acr   string   `json:"acr"`
	Amr   []string `json:"amr"`
}

func sampleClaims() idClaims {
	return idClaims{Iss: "https://idgw.op1.example", Sub: "pcr-1234", Aud: []string{"client-1"},
		Exp: 1700003600, Iat: 1700000000, Nonce: "n-0S6_WzA2Mj<&>", Acr: "2", Amr: []string{"SIM_PIN"}}
}

// keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	testKeys map[Alg]*Key
)

func keyFor(t testing.TB, alg Alg) *Key {
	keysOnce.Do(func() {
		testKeys = map[Alg]*Key{}
		for _, a := range Algs {
			k, err := GenerateKey(a)
			if err != nil {
				panic(err)
			}
			testKeys[a] = k
		}
	})
	return testKeys[alg]
}

func setOf(t testing.TB, keys ...*Key) *KeySet {
	t.Helper()
	raws := []json.RawMessage{}
	for _, k := range keys {
		raws = append(raws, k.Public())
	}
	b, _ := json.Marshal(map[string]any{"keys": raws})
	ks, err := ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func segment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range Algs {
		t.Run(string(alg), func(t *testing.T) {
			k := keyFor(t, alg)
			tok, err := Sign(k, sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			payload, h, err := Verify(tok, setOf(t, k), alg)
			if err != nil {
				t.Fatal(err)
			}
			if h.Alg != alg || h.Kid != k.KID() || h.Typ != "JWT" {
				t.Fatalf("header %+v", h)
			}
			var got idClaims
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(sampleClaims()) {
				t.Fatalf("claims %+v", got)
			}
			// the wrong expected alg is refused
			other := RS256
			if alg == RS256 {
				other = ES256
			}
			if _, _, err := Verify(tok, setOf(t, k), other); !errors.Is(err, ErrAlgNotAllowed) {
				t.Fatalf("want ErrAlgNotAllowed, got %v", err)
			}
		})
	}
}

func TestHeaderAndCompactPayload(t *testing.T) {
	for _, alg := range Algs {
		k := keyFor(t, alg)
		tok, err := Sign(k, sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		var hdr map[string]any
		if err := json.Unmarshal(segment(t, tok, 0), &hdr); err != nil {
			t.Fatal(err)
		}
		if hdr["alg"] != string(alg) || hdr["kid"] != k.KID() || hdr["typ"] != "JWT" || len(hdr) != 3 {
			t.Fatalf("%s header %v", alg, hdr)
		}
		p := segment(t, tok, 1)
		var c bytes.Buffer
		_ = json.Compact(&c, p)
		if !bytes.Equal(c.Bytes(), p) || bytes.ContainsAny(p, " \n\t") {
			t.Fatalf("payload not compact: %s", p)
		}
		// the Java SDK's regex "?nonce"?:"(.*?)" must see the nonce verbatim
		if !bytes.Contains(p, []byte(`"nonce":"n-0S6_WzA2Mj<&>"`)) {
			t.Fatalf("nonce not verbatim: %s", p)
		}
	}
	// maps and raw JSON are compacted too
	k := keyFor(t, ES256)
	for _, c := range []any{map[string]any{"b": 1, "a": "x y"}, []byte("{ \"a\": \"x y\",\n \"b\": 1 }"), json.RawMessage(`{"a" : "x y", "b" : 1}`)} {
		tok, err := Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		if p := string(segment(t, tok, 1)); p != `{"a":"x y","b":1}` {
			t.Fatalf("payload %s", p)
		}
	}
	if _, err := Sign(k, []byte("{not json")); err == nil {
		t.Fatal("invalid raw JSON accepted")
	}
}

func TestVerifyThroughPublishedJWKSOnly(t *testing.T) {
	r := NewKeyRing(time.Hour)
	now := time.Unix(1700000000, 0)
	if _, err := r.Ensure(now, Algs...); err != nil {
		t.Fatal(err)
	}
	jwks := r.JWKS(now)
	for _, alg := range Algs {
		tok, err := Sign(r.Active(alg), sampleClaims())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := VerifyJWKS(tok, jwks, alg); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		// the ring's own parsed set agrees
		if _, _, err := Verify(tok, r.PublicSet(now), alg); err != nil {
			t.Fatalf("%s PublicSet: %v", alg, err)
		}
	}
}

func TestJWKSHasPublicMembersOnly(t *testing.T) {
	r := NewKeyRing(time.Hour)
	now := time.Unix(1700000000, 0)
	if _, err := r.Ensure(now, Algs...); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate(RS256, now.Add(time.Minute)); err != nil { // a rotated-out key too
		t.Fatal(err)
	}
	jwks := r.JWKS(now.Add(2 * time.Minute))
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != len(Algs)+1 {
		t.Fatalf("%d keys published: %s", len(set.Keys), jwks)
	}
	if set.Keys[0]["alg"] != "RS256" {
		t.Fatalf("active RS256 key should come first: %s", jwks)
	}
	for _, k := range set.Keys {
		for _, m := range []string{"kty", "use", "alg", "kid"} {
			if _, ok := k[m]; !ok {
				t.Errorf("key lacks %q: %v", m, k)
			}
		}
		if k["use"] != "sig" {
			t.Errorf("use %v", k["use"])
		}
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				t.Errorf("JWKS key has private member %q", m)
			}
		}
	}
	if bytes.ContainsAny(jwks, " \n") {
		t.Errorf("JWKS not compact: %s", jwks)
	}
	// Key's own JSON forms are public too
	for _, alg := range Algs {
		k := r.Active(alg)
		for _, b := range [][]byte{k.Public(), mustJSON(t, k)} {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			for _, p := range privateMembers {
				if _, ok := m[p]; ok {
					t.Errorf("%s public form has %q", alg, p)
				}
			}
		}
		if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); strings.Contains(s, "PrivateKey") || len(s) > 400 {
			t.Errorf("fmt of key leaks: %s", s)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJWKSRefusesPrivate(t *testing.T) {
	for _, alg := range Algs {
		priv, err := keyFor(t, alg).MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		jwks := []byte(`{"keys":[` + string(priv) + `]}`)
		if _, err := ParseJWKS(jwks); !errors.Is(err, ErrPrivateInSet) {
			t.Fatalf("%s: want ErrPrivateInSet, got %v", alg, err)
		}
	}
	for _, bad := range []string{
		`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB","p":"AQAB"}]}`,
	} {
		if _, err := ParseJWKS([]byte(bad)); !errors.Is(err, ErrPrivateInSet) {
			t.Fatalf("%s: want ErrPrivateInSet, got %v", bad, err)
		}
	}
	if _, err := ParseJWKS([]byte(`{}`)); err == nil {
		t.Fatal("set without keys accepted")
	}
	// an SP key without alg is accepted; duplicate kid is not
	k := keyFor(t, ES256)
	var m map[string]any
	_ = json.Unmarshal(k.Public(), &m)
	delete(m, "alg")
	one, _ := json.Marshal(map[string]any{"keys": []any{m}})
	ks, err := ParseJWKS(one)
	if err != nil || ks.Len() != 1 {
		t.Fatalf("alg-less key: %v", err)
	}
	tok, _ := Sign(k, sampleClaims())
	if _, _, err := Verify(tok, ks, ES256, RS256); err != nil {
		t.Fatalf("verify with alg-less key: %v", err)
	}
	two, _ := json.Marshal(map[string]any{"keys": []any{m, m}})
	if _, err := ParseJWKS(two); err == nil {
		t.Fatal("duplicate kid accepted")
	}
}

func TestAlgConfusionAndNone(t *testing.T) {
	k := keyFor(t, RS256)
	set := setOf(t, k)
	claims := mustJSON(t, sampleClaims())

	// HS256 with the published public key (JWK JSON, and raw modulus) as the HMAC secret.
	for _, secret := range [][]byte{k.Public(), segmentN(t, k)} {
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, k.KID())
		_ = hdr.Set(jws.TypeKey, "JWT")
		tok, err := jws.Sign(claims, jws.WithKey(jwa.HS256, secret, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Verify(string(tok), set, RS256, PS256, ES256, EdDSA); !errors.Is(err, ErrAlgNotAllowed) {
			t.Fatalf("HS256 token: want ErrAlgNotAllowed, got %v", err)
		}
		if _, _, err := Verify(string(tok), set, Alg("HS256")); !errors.Is(err, ErrUnsupportedAlg) {
			t.Fatalf("HS256 expected alg: want ErrUnsupportedAlg, got %v", err)
		}
	}
	// alg none, with and without a trailing signature
	b64 := base64.RawURLEncoding.EncodeToString
	for _, hdr := range []string{`{"alg":"none","kid":"` + k.KID() + `","typ":"JWT"}`, `{"alg":"none"}`} {
		for _, sig := range []string{"", "AAAA"} {
			tok := b64([]byte(hdr)) + "." + b64(claims) + "." + sig
			if _, _, err := Verify(tok, set, RS256); !errors.Is(err, ErrAlgNotAllowed) {
				t.Fatalf("alg none %q: want ErrAlgNotAllowed, got %v", sig, err)
			}
		}
	}
	if _, _, err := Verify("x", set); err == nil {
		t.Fatal("no expected algs accepted")
	}
	// RS256 token presented as PS256 to a key published for RS256
	tok, _ := Sign(k, sampleClaims())
	parts := strings.Split(tok, ".")
	parts[0] = b64([]byte(`{"alg":"PS256","kid":"` + k.KID() + `","typ":"JWT"}`))
	if _, _, err := Verify(strings.Join(parts, "."), set, RS256, PS256); !errors.Is(err, ErrAlgNotAllowed) {
		t.Fatalf("alg swap: want ErrAlgNotAllowed, got %v", err)
	}
	// JSON serialisation is refused
	jsonTok, _ := jws.Sign(claims, jws.WithJSON(), jws.WithKey(jwa.RS256, k.priv))
	if _, _, err := Verify(string(jsonTok), set, RS256); !errors.Is(err, ErrMalformed) {
		t.Fatalf("JSON serialisation: want ErrMalformed, got %v", err)
	}
}

func segmentN(t *testing.T, k *Key) []byte {
	var m map[string]string
	_ = json.Unmarshal(k.Public(), &m)
	return []byte(m["n"])
}

func TestTamperedAndUnknownKid(t *testing.T) {
	for _, alg := range Algs {
		k := keyFor(t, alg)
		set := setOf(t, k)
		tok, _ := Sign(k, sampleClaims())
		parts := strings.Split(tok, ".")
		p := segment(t, tok, 1)
		tampered := bytes.Replace(p, []byte(`"sub":"pcr-1234"`), []byte(`"sub":"pcr-9999"`), 1)
		parts[1] = base64.RawURLEncoding.EncodeToString(tampered)
		if _, _, err := Verify(strings.Join(parts, "."), set, alg); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s tampered: want ErrBadSignature, got %v", alg, err)
		}
		// another key of the same alg, claiming this key's kid
		k2, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		forged, _ := Sign(k2, sampleClaims())
		fp := strings.Split(forged, ".")
		fp[0] = parts[0]
		if _, _, err := Verify(strings.Join(fp, "."), set, alg); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s forged: want ErrBadSignature, got %v", alg, err)
		}
		if _, _, err := Verify(forged, set, alg); !errors.Is(err, ErrUnknownKid) {
			t.Fatalf("%s unknown kid: want ErrUnknownKid, got %v", alg, err)
		}
	}
	if _, _, err := Verify("a.b.c", setOf(t), RS256); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: want ErrMalformed, got %v", err)
	}
}

func TestKidIsRFC7638Thumbprint(t *testing.T) {
	k := keyFor(t, ES256)
	pub := k.PublicKey().(*ecdsa.PublicKey)
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	// RFC 7638 §3.2: required members, lexicographic order, no whitespace.
	canon := `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := b64(sum[:]); k.KID() != want {
		t.Fatalf("kid %s, want %s", k.KID(), want)
	}
}

func TestPrivateRoundTrip(t *testing.T) {
	for _, alg := range Algs {
		k := keyFor(t, alg)
		b, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePrivate(b)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if k2.KID() != k.KID() || k2.Alg() != alg || !bytes.Equal(k2.Public(), k.Public()) {
			t.Fatalf("%s: round trip changed the key", alg)
		}
		tok, _ := Sign(k2, sampleClaims())
		if _, _, err := Verify(tok, setOf(t, k), alg); err != nil {
			t.Fatalf("%s: token from reloaded key: %v", alg, err)
		}
		if _, err := ParsePrivate(k.Public()); err == nil {
			t.Fatalf("%s: public JWK accepted as private", alg)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m["kid"] = "other"
		bad, _ := json.Marshal(m)
		if _, err := ParsePrivate(bad); err == nil {
			t.Fatalf("%s: kid mismatch accepted", alg)
		}
	}
	// an ES256 key labelled RS256 is refused
	b, _ := keyFor(t, ES256).MarshalPrivate()
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["alg"] = "RS256"
	bad, _ := json.Marshal(m)
	if _, err := ParsePrivate(bad); err == nil {
		t.Fatal("alg/key type mismatch accepted")
	}
	if _, err := GenerateKey("HS256"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("HS256 key: %v", err)
	}
}

func TestAtHash(t *testing.T) {
	// OIDC Core A.3 example: access_token jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y,
	// at_hash 77QmUPtjPfzWtF2AnpK9RQ (RS256, SHA-256).
	if got := AtHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", RS256); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("RS256 at_hash %s", got)
	}
	if a, b := AtHash("tok", ES256), AtHash("tok", PS256); a != b || len(a) != 22 {
		t.Fatalf("SHA-256 family: %s %s", a, b)
	}
	if e := AtHash("tok", EdDSA); len(e) != 43 { // 32 bytes of SHA-512
		t.Fatalf("EdDSA at_hash %s", e)
	}
	if AtHash("tok", "HS256") != "" {
		t.Fatal("unsupported alg should give empty at_hash")
	}
}

func TestUnverifiedPayload(t *testing.T) {
	k := keyFor(t, ES256)
	tok, err := Sign(k, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnverifiedPayload(tok)
	if err != nil || !bytes.Equal(got, segment(t, tok, 1)) {
		t.Fatalf("payload %s, %v", got, err)
	}
	for _, bad := range []string{"", "abc", "a.b", "a.%%%.c"} {
		if _, err := UnverifiedPayload(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", bad, err)
		}
	}
}

// TestSignTyped: a token signed with another typ verifies with the same
// key set and reports that typ; Sign's tokens stay "JWT".
func TestSignTyped(t *testing.T) {
	now := time.Now()
	r := NewKeyRing(time.Hour)
	if _, err := r.Ensure(now, ES256); err != nil {
		t.Fatal(err)
	}
	tok, err := SignTyped(r.Active(ES256), "logout+jwt", map[string]any{"jti": "1"})
	if err != nil {
		t.Fatal(err)
	}
	payload, h, err := Verify(tok, r.PublicSet(now), ES256)
	if err != nil || h.Typ != "logout+jwt" || string(payload) != `{"jti":"1"}` {
		t.Fatalf("typed token: %v %+v %s", err, h, payload)
	}
	plain, _ := Sign(r.Active(ES256), map[string]any{"jti": "2"})
	if _, h, err := Verify(plain, r.PublicSet(now), ES256); err != nil || h.Typ != "JWT" {
		t.Fatalf("Sign after SignTyped: %v %+v", err, h)
	}
}
