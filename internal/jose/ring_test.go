package jose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestRotationKeepsOldKeyUntilRetired(t *testing.T) {
	const life = 10 * time.Minute
	r := NewKeyRing(life)
	t0 := time.Unix(1700000000, 0)
	old, err := r.Rotate(ES256, t0)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := Sign(old, sampleClaims())

	t1 := t0.Add(time.Hour)
	nk, err := r.Rotate(ES256, t1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Active(ES256) != nk || nk.KID() == old.KID() {
		t.Fatal("rotation did not switch the active key")
	}
	// published (through JWKS JSON) until t1 + life
	for _, at := range []time.Time{t1, t1.Add(life - time.Second)} {
		if _, _, err := VerifyJWKS(tok, r.JWKS(at), ES256); err != nil {
			t.Fatalf("old token at %v: %v", at.Sub(t1), err)
		}
	}
	retired := t1.Add(life)
	if _, _, err := VerifyJWKS(tok, r.JWKS(retired), ES256); !errors.Is(err, ErrUnknownKid) {
		t.Fatalf("after retirement: want ErrUnknownKid, got %v", err)
	}
	if _, _, err := Verify(tok, r.PublicSet(retired), ES256); !errors.Is(err, ErrUnknownKid) {
		t.Fatalf("PublicSet after retirement: want ErrUnknownKid, got %v", err)
	}
	if n := r.Prune(t1); n != 0 {
		t.Fatalf("pruned %d before retirement", n)
	}
	if n := r.Prune(retired); n != 1 {
		t.Fatalf("pruned %d at retirement, want 1", n)
	}
	if r.Active(ES256) != nk {
		t.Fatal("prune touched the active key")
	}
	newTok, _ := Sign(nk, sampleClaims())
	if _, _, err := VerifyJWKS(newTok, r.JWKS(retired.Add(100*24*time.Hour)), ES256); err != nil {
		t.Fatalf("active key must stay published: %v", err)
	}
}

func TestRingSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	now := time.Unix(1700000000, 0)
	r := NewKeyRing(30 * time.Minute)
	if _, err := r.Ensure(now, Algs...); err != nil {
		t.Fatal(err)
	}
	oldRS := r.Active(RS256)
	oldTok, _ := Sign(oldRS, sampleClaims())
	if _, err := r.Rotate(RS256, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if err := r.SaveFile(path); err != nil { // overwrite in place
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}

	r2, err := LoadRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if r2.MaxTokenLifetime() != 30*time.Minute {
		t.Fatalf("lifetime %v", r2.MaxTokenLifetime())
	}
	at := now.Add(2 * time.Minute)
	if !bytes.Equal(r.JWKS(at), r2.JWKS(at)) {
		t.Fatalf("JWKS differs after reload:\n%s\n%s", r.JWKS(at), r2.JWKS(at))
	}
	for _, a := range Algs {
		if r2.Active(a).KID() != r.Active(a).KID() {
			t.Fatalf("%s active key changed", a)
		}
		tok, _ := Sign(r2.Active(a), sampleClaims())
		if _, _, err := VerifyJWKS(tok, r.JWKS(at), a); err != nil {
			t.Fatalf("%s: reloaded key's token: %v", a, err)
		}
	}
	if _, _, err := VerifyJWKS(oldTok, r2.JWKS(at), RS256); err != nil {
		t.Fatalf("rotated-out key lost on reload: %v", err)
	}
	if _, _, err := VerifyJWKS(oldTok, r2.JWKS(now.Add(31*time.Minute)), RS256); !errors.Is(err, ErrUnknownKid) {
		t.Fatalf("retire time lost on reload: %v", err)
	}
	if _, err := LoadRing(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file loaded")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"version":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRing(filepath.Join(dir, "bad.json")); err == nil {
		t.Fatal("bad file loaded")
	}
}

func TestRingConcurrentUse(t *testing.T) {
	r := NewKeyRing(time.Minute)
	now := time.Unix(1700000000, 0)
	if _, err := r.Ensure(now, ES256, EdDSA); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				alg := ES256
				if i%2 == 1 {
					alg = EdDSA
				}
				k := r.Active(alg)
				tok, err := Sign(k, sampleClaims())
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := Verify(tok, r.PublicSet(now), alg); err != nil {
					t.Error(err)
					return
				}
				_ = r.JWKS(now)
				if g == 0 && i%10 == 0 {
					if _, err := r.Rotate(alg, now); err != nil {
						t.Error(err)
					}
					if err := r.SaveFile(filepath.Join(dir, "ring.json")); err != nil {
						t.Error(err)
					}
					r.Prune(now) // rotated keys retire at now+1m: nothing to drop, but takes the lock
				}
			}
		}(g)
	}
	wg.Wait()
}
