package federation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
	"github.com/mcfed/mcfed/registry"
)

func openTestState(t *testing.T) state.Store {
	t.Helper()
	s, err := embedded.Open(filepath.Join(t.TempDir(), stateFile), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeKEK(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	key, err := loadOrCreateKey(filepath.Dir(path), "kek")
	if err != nil || len(key) != 32 {
		t.Fatal(err)
	}
	return path
}

func kids(ring *jose.KeyRing) []string {
	out := ring.PublicSet(time.Now()).KIDs()
	slices.Sort(out)
	return out
}

// TestOperatorKeysAreSharedByItsNodes: two gateway nodes of one operator
// on one store (each with its own data directory, the same --kek-file)
// hold the same signing and sealing keys; a rotation by one is loaded by
// the other without a restart, and the other's stale save is refused
// rather than undoing it; a node with another key-encryption key opens
// nothing.
func TestOperatorKeysAreSharedByItsNodes(t *testing.T) {
	ctx := context.Background()
	store := openTestState(t)
	reg := registry.New()
	kek := writeKEK(t)
	a := Config{DataDir: t.TempDir(), OperatorID: "green", KEKFile: kek}
	b := Config{DataDir: t.TempDir(), OperatorID: "green", KEKFile: kek}
	ringA, sealA, vaultA, err := openOperatorKeys(ctx, a, store, reg)
	if err != nil {
		t.Fatal(err)
	}
	ringB, sealB, vaultB, err := openOperatorKeys(ctx, b, store, reg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(ringA), kids(ringB)) || len(kids(ringA)) != len(algorithms) {
		t.Fatalf("the nodes sign with different keys: %v and %v", kids(ringA), kids(ringB))
	}
	pa, _, _ := sealA.publicPEMs()
	pb, _, _ := sealB.publicPEMs()
	if pa != pb || sealA.publishedSealKeys(time.Now())[0] != sealB.publishedSealKeys(time.Now())[0] {
		t.Fatal("the nodes hold different sealing keys")
	}

	// a rotates its signing and sealing keys.
	if _, err := ringA.Rotate(jose.ES256, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sealA.rotate(); err != nil {
		t.Fatal(err)
	}
	if err := vaultA.save(ctx, ringA, sealA); err != nil {
		t.Fatal(err)
	}
	// b, which has not seen it, may not overwrite it.
	if _, err := ringB.Rotate(jose.RS256, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := vaultB.save(ctx, ringB, sealB); !errors.Is(err, errKeysMoved) {
		t.Fatalf("a stale save: %v, want errKeysMoved", err)
	}
	changed, err := vaultB.reload(ctx, ringB, sealB)
	if err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if !slices.Equal(kids(ringA), kids(ringB)) {
		t.Fatalf("after the reload the nodes sign with different keys: %v and %v", kids(ringA), kids(ringB))
	}
	if ringB.Active(jose.ES256).KID() != ringA.Active(jose.ES256).KID() {
		t.Fatal("b does not sign with a's new ES256 key")
	}
	pa, prevA, _ := sealA.publicPEMs()
	pb, prevB, _ := sealB.publicPEMs()
	if pa != pb || prevA != prevB || prevB == "" {
		t.Fatal("b does not hold a's rotated sealing keys")
	}

	// Another key-encryption key opens nothing.
	c := Config{DataDir: t.TempDir(), OperatorID: "green", KEKFile: writeKEK(t)}
	if _, _, _, err := openOperatorKeys(ctx, c, store, reg); err == nil {
		t.Fatal("a node with another key-encryption key read the operator's keys")
	}
	// Nor does the record open as another operator's.
	d := Config{DataDir: t.TempDir(), OperatorID: "blue", KEKFile: kek}
	vd, _ := newKeyVault(store, mustKEK(t, kek), d.OperatorID)
	rec, err := store.Get(ctx, keysKind, []byte(keysKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vd.open(rec.Value); err == nil {
		t.Fatal("green's keys open as blue's")
	}
}

func mustKEK(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOperatorKeysMoveFromFilesToTheStore: a data directory from before
// the store keeps its keys: the first start stores those of its files, so
// the issuer's JWKS and the record's sealing key stay what they were.
func TestOperatorKeysMoveFromFilesToTheStore(t *testing.T) {
	dir := t.TempDir()
	old := jose.NewKeyRing(maxTokenLifetime)
	if _, err := old.Ensure(time.Now(), algorithms...); err != nil {
		t.Fatal(err)
	}
	if err := old.SaveFile(filepath.Join(dir, signingKeyFile)); err != nil {
		t.Fatal(err)
	}
	ring, _, _, err := openOperatorKeys(context.Background(), Config{DataDir: dir, OperatorID: "green"}, openTestState(t), registry.New())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids(ring), kids(old)) {
		t.Fatalf("the keys changed on the move to the store: %v, then %v", kids(old), kids(ring))
	}
}
