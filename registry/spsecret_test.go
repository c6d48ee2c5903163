package registry

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/internal/spsecret"
)

const (
	testSPSecret = "Qm0xWJ3kz8bVtq2Ar5Yd7nLcPfE1uGh9oKsT4iNwB6M"
	newSPSecret  = "Zx8cVb7nM6lK5jH4gF3dS2aQ1wE0rT9yU8iO7pLkJhG"
)

func newFormSP(secret string) *ServiceProvider {
	return &ServiceProvider{ClientID: "shop", Name: "Shop", SecretKey: spsecret.PublicKey(secret),
		RedirectURIs: []string{"https://shop.example/cb"}, Operators: []string{AllOperators}, Status: StatusActive}
}

// check runs the same checks twice: once filling the cache, once from it.
func twice(t *testing.T, c *SecretCache, f func(pass int)) {
	t.Helper()
	for pass := range 2 {
		f(pass)
	}
	if c.Len() == 0 {
		t.Fatal("nothing was cached")
	}
}

func TestSecretCacheAcceptsEachSecretWhereItBelongs(t *testing.T) {
	c := NewSecretCache(0)
	sp := newFormSP(testSPSecret)
	a := spsecret.OperatorSecret(testSPSecret, "shop", "a")
	twice(t, c, func(pass int) {
		if !c.Authenticate(sp, []byte(testSPSecret)) {
			t.Fatalf("pass %d: the SP's own secret does not open discovery", pass)
		}
		if c.Authenticate(sp, []byte(a)) || c.Authenticate(sp, []byte(newSPSecret)) {
			t.Fatalf("pass %d: discovery takes a derived or a wrong secret", pass)
		}
		if got := c.OperatorSecret(sp, []byte(testSPSecret), "a"); got != a {
			t.Fatalf("pass %d: operator secret %q, want %q", pass, got, a)
		}
		if own, ok := c.Verify(sp, []byte(testSPSecret)); !ok || c.OperatorSecretFor(&own, "a") != a {
			t.Fatalf("pass %d: a verified secret derives %q (verified %v), want %q", pass, c.OperatorSecretFor(&own, "a"), ok, a)
		}
		if !c.CheckOperatorSecret(sp, "a", a) {
			t.Fatalf("pass %d: a's gateway refuses a's secret", pass)
		}
		for _, bad := range []string{testSPSecret, spsecret.OperatorSecret(testSPSecret, "shop", "b"), a + "x", ""} {
			if c.CheckOperatorSecret(sp, "a", bad) {
				t.Fatalf("pass %d: a's gateway takes %q", pass, bad)
			}
		}
		if c.CheckOperatorSecret(sp, "b", a) {
			t.Fatalf("pass %d: b's gateway takes a's secret", pass)
		}
	})
}

func TestSecretCacheForgetsARotatedSecret(t *testing.T) {
	c := NewSecretCache(0)
	old := newFormSP(testSPSecret)
	a := c.OperatorSecret(old, []byte(testSPSecret), "a")
	if !c.Authenticate(old, []byte(testSPSecret)) || !c.CheckOperatorSecret(old, "a", a) {
		t.Fatal("the secrets before rotation do not work")
	}
	rotated := newFormSP(newSPSecret) // the same client id, the row after rotation
	if c.Authenticate(rotated, []byte(testSPSecret)) || c.CheckOperatorSecret(rotated, "a", a) {
		t.Fatal("a cached secret survives rotation")
	}
	if got := c.OperatorSecret(rotated, []byte(newSPSecret), "a"); got == a || !c.CheckOperatorSecret(rotated, "a", got) {
		t.Fatal("the new secret's operator secret is not a new one that works")
	}
}

func TestSecretCacheLegacyAndKeysOnlySPs(t *testing.T) {
	c := NewSecretCache(0)
	secret := strings.Repeat("s", 40)
	legacy := &ServiceProvider{ClientID: "old", SecretHash: HashSecret(secret), Status: StatusActive}
	if !legacy.Legacy() || !c.Authenticate(legacy, []byte(secret)) || c.OperatorSecret(legacy, []byte(secret), "a") != secret ||
		!c.CheckOperatorSecret(legacy, "a", secret) || c.CheckOperatorSecret(legacy, "a", secret+"x") {
		t.Fatal("a legacy SP's one secret does not work as before")
	}
	keysOnly := &ServiceProvider{ClientID: "app", Status: StatusActive}
	if keysOnly.Legacy() || c.Authenticate(keysOnly, nil) || c.Authenticate(keysOnly, []byte(HashSecret(""))) || c.CheckOperatorSecret(keysOnly, "a", "") {
		t.Fatal("an SP with keys only has a secret")
	}
}

func TestSecretCacheIsBounded(t *testing.T) {
	c := NewSecretCache(8)
	sp := newFormSP(testSPSecret)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				op := fmt.Sprintf("op%d-%d", g, i)
				d := c.OperatorSecret(sp, []byte(testSPSecret), op)
				if !c.CheckOperatorSecret(sp, op, d) || c.CheckOperatorSecret(sp, op+"x", d) {
					t.Errorf("%s: the derived secret does not verify where it should, or does elsewhere", op)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 8 {
		t.Fatalf("the cache holds %d entries, over its bound of 8", n)
	}
}

func TestCheckGivenSecret(t *testing.T) {
	for _, ok := range []string{
		testSPSecret,                          // 43 characters of base64url: what the admin API generates
		strings.Repeat("0123456789abcdef", 4), // 64 hex digits: a 256-bit key
		"VNZ3JQ5XKQH4WRNJ3IYSE7PXCAKR6BTNMV2GWTUMFIW4DQHTTUEA", // two rand.Text(): 52 base32 characters
	} {
		if err := CheckGivenSecret(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, c := range []struct{ secret, why string }{
		{"short", "at least 32"},
		{strings.Repeat("a", 64), "guessable"},
		{strings.Repeat("ab", 40), "guessable"},
		{strings.Repeat("password", 5), "guessable"},
	} {
		err := CheckGivenSecret(c.secret)
		if err == nil || CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "leave it out") {
			t.Errorf("%q: %v, want a refusal saying %q and to leave it out", c.secret, err, c.why)
		}
	}
}

func TestValidateTakesOneSecretForm(t *testing.T) {
	sp := newFormSP(testSPSecret)
	if err := sp.Validate(); err != nil {
		t.Fatalf("a new-form SP: %v", err)
	}
	both := *sp
	both.SecretHash = HashSecret(testSPSecret)
	wantCode(t, both.Validate(), CodeInvalid, "not both")
	bad := *sp
	bad.SecretKey = "ed25519:short"
	wantCode(t, bad.Validate(), CodeInvalid, "secret_key must be")
	none := *sp
	none.SecretKey = ""
	wantCode(t, none.Validate(), CodeInvalid, "only an SP with jwks")
}

// BenchmarkSecretCache is what an SP's secret costs a request: discovery
// authenticates the SP's own secret and derives the serving operator's
// (hit: both from the cache), a gateway checks the operator's secret (hit:
// from the cache), against the work a miss does and a legacy SP's hash.
//
//	go test -run '^$' -bench SecretCache ./registry/
func BenchmarkSecretCache(b *testing.B) {
	sp := newFormSP(testSPSecret)
	secret := []byte(testSPSecret)
	derived := spsecret.OperatorSecret(testSPSecret, "shop", "op3")
	c := NewSecretCache(0)
	b.Run("discovery-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if own, ok := c.Verify(sp, secret); !ok || c.OperatorSecretFor(&own, "op3") != derived {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("discovery-miss", func(b *testing.B) {
		for b.Loop() {
			if !spsecret.CheckSecret(sp.SecretKey, testSPSecret) || spsecret.OperatorSecret(testSPSecret, "shop", "op3") != derived {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("gateway-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !c.CheckOperatorSecret(sp, "op3", derived) {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("gateway-miss", func(b *testing.B) {
		for b.Loop() {
			if !spsecret.Verify(sp.SecretKey, "shop", "op3", derived) {
				b.Fatal("wrong")
			}
		}
	})
	legacy := &ServiceProvider{ClientID: "old", SecretHash: HashSecret(testSPSecret)}
	b.Run("legacy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !c.Authenticate(legacy, secret) {
				b.Fatal("wrong")
			}
		}
	})
}
