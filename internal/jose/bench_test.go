package jose

import (
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// BenchmarkSign is our wrapper: claims struct → compact JSON → jws.Sign.
func BenchmarkSign(b *testing.B) {
	for _, alg := range Algs {
		b.Run(string(alg), func(b *testing.B) {
			k := keyFor(b, alg)
			c := sampleClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(k, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignLoadedKey is Sign with a key read back by ParsePrivate, as
// a node signs after a restart: it must cost what a generated key costs.
func BenchmarkSignLoadedKey(b *testing.B) {
	for _, alg := range Algs {
		b.Run(string(alg), func(b *testing.B) {
			priv, err := keyFor(b, alg).MarshalPrivate()
			if err != nil {
				b.Fatal(err)
			}
			k, err := ParsePrivate(priv)
			if err != nil {
				b.Fatal(err)
			}
			c := sampleClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(k, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSign is jwx's jws.Sign called directly on the same,
// pre-marshalled payload with the same raw key and the same protected header
// (kid, typ): the floor our wrapper is measured against.
func BenchmarkRawSign(b *testing.B) {
	for _, alg := range Algs {
		b.Run(string(alg), func(b *testing.B) {
			k := keyFor(b, alg)
			payload, err := json.Marshal(sampleClaims())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				hdr := jws.NewHeaders()
				_ = hdr.Set(jws.KeyIDKey, k.kid)
				_ = hdr.Set(jws.TypeKey, "JWT")
				if _, err := jws.Sign(payload, jws.WithKey(alg.jwa(), k.priv, jws.WithProtectedHeaders(hdr))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is Verify against a parsed set holding the key.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range Algs {
		b.Run(string(alg), func(b *testing.B) {
			k := keyFor(b, alg)
			set := setOf(b, k)
			tok, err := Sign(k, sampleClaims())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Verify(tok, set, alg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
