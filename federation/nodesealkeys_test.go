package federation

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/registry"
)

// nodeKeyOf is the id of the node key that sealed the symmetric
// subscriber_id id (its header's first key id).
func nodeKeyOf(t *testing.T, id string) string {
	t.Helper()
	raw, err := hex.DecodeString(id)
	if err != nil || !discovery.IsSymmetric(id) {
		t.Fatalf("subscriber_id %q is not the symmetric form", id)
	}
	return base64.RawURLEncoding.EncodeToString(raw[1 : 1+registry.SealKeyIDLen])
}

// publishedNodeKeys are the ids of the keys node's record holds, as its
// replica has it.
func publishedNodeKeys(node *Node) []string {
	self := node.Raft().Registry().Node(node.cfg.NodeID)
	if self == nil {
		return nil
	}
	var ids []string
	for _, k := range self.SealKeys {
		ids = append(ids, k.ID)
	}
	return ids
}

// The node's seal key rotates (by its admin, by a rotation a crash cut
// short, on the schedule) without a login failing: a subscriber_id sealed
// before a rotation still logs in after it, and after a restart; discovery
// seals with the new key once it is published; the record holds at most
// two keys. A subscriber_id sealed with a retired key is refused (as an
// undecryptable hint is) once the key is past its not-after and dropped,
// from the record and the data directory.
func TestNodeSealKeyRotation(t *testing.T) {
	f, green, cfg := startRoutableGreen(t)
	waitSymmetric(f, green, "green")
	ctx := context.Background()
	clearStatus, clearLoc := authorizeAt(t, green, "shop", "MSISDN:"+strings.TrimPrefix(greenNumber, "+"))
	badStatus, badLoc := authorizeAt(t, green, "shop", "ENCR_MSISDN:"+strings.Repeat("ab", 61))
	if badLoc == clearLoc {
		t.Fatal("an undecryptable hint is answered as the number in clear: nothing tells them apart")
	}
	loginAs := func(node *Node, what, id string, want bool) {
		t.Helper()
		status, loc := authorizeAt(t, node, "shop", "ENCR_MSISDN:"+id)
		switch {
		case want && (status != clearStatus || loc != clearLoc):
			t.Errorf("%s: %d %q; want the answer to the number in clear, %d %q", what, status, loc, clearStatus, clearLoc)
		case !want && (status != badStatus || loc != badLoc):
			t.Errorf("%s: %d %q; want the answer to an undecryptable hint, %d %q", what, status, loc, badStatus, badLoc)
		}
	}
	discoverWith := func(node *Node, what, wantKey string) string {
		t.Helper()
		status, _, id := discoverSealed(t, node, greenNumber)
		if status != 200 || !discovery.IsSymmetric(id) {
			t.Fatalf("%s: discovery %d, subscriber_id %q; want the symmetric form", what, status, id)
		}
		if got := nodeKeyOf(t, id); got != wantKey {
			t.Errorf("%s: sealed with node key %s, want %s", what, got, wantKey)
		}
		return id
	}

	k1 := publishedNodeKeys(green)[0]
	id1 := discoverWith(green, "before any rotation", k1)

	// The admin's rotation: the new key first, the replaced one with its
	// not-after; either's subscriber_ids log in.
	own := &client.Admin{Base: green.AdminURL(), Token: testAdminToken}
	var res admin.NodeSealKeyResult
	if err := own.Do(ctx, "POST", "/v1/node/seal-key/rotate", nil, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.SealKeys) != 2 || res.SealKeys[1].ID != k1 || res.SealKeys[0].NotAfter != 0 ||
		res.SealKeys[1].NotAfter < time.Now().Add(retiredKeyLife-time.Minute).Unix() || res.SealKeys[1].NotAfter > time.Now().Add(retiredKeyLife).Unix() {
		t.Fatalf("rotated: %+v; want a new key, then %s retired in %s", res.SealKeys, k1, retiredKeyLife)
	}
	k2 := res.SealKeys[0].ID
	if got := publishedNodeKeys(green); !slices.Equal(got, []string{k2, k1}) {
		t.Fatalf("green's record holds %v, want [%s %s]", got, k2, k1)
	}
	loginAs(green, "sealed before the rotation", id1, true)
	id2 := discoverWith(green, "after the rotation", k2)
	loginAs(green, "sealed after the rotation", id2, true)

	// Only green's own admins rotate its key.
	fed := &client.Admin{Base: green.AdminURL(), Token: f.fedToken}
	var api *client.APIError
	if err := fed.Do(ctx, "POST", "/v1/node/seal-key/rotate", nil, nil); !errors.As(err, &api) || api.Status != 403 || api.ContentType != "application/problem+json" {
		t.Errorf("a federation admin rotates an operator's node's key: %v", err)
	}
	if api := f.problemOf(0, "POST", "/v1/node/seal-key/rotate", nil); api.Status != 404 {
		t.Errorf("a node without discovery: %d, want 404", api.Status)
	}

	// A rotation cut short by a crash: the new key is in the data
	// directory, not yet published. Discovery keeps sealing with the
	// published one; the restart publishes the new one, with k2 retired
	// (a rotation within a retired key's life retires the older one, k1,
	// early, as the gateway's keys do).
	green.nodeSeal.mu.Lock()
	err := green.nodeSeal.rotate(time.Now())
	k3 := green.nodeSeal.pairs[0].ID()
	green.nodeSeal.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	id2b := discoverWith(green, "the new key not yet published", k2)
	green = restartNode(t, green, cfg)
	f.waitFor("the restarted node to publish its new key", func() bool {
		return slices.Equal(publishedNodeKeys(green), []string{k3, k2})
	})
	loginAs(green, "sealed before the restart", id2, true)
	loginAs(green, "sealed before the restart, the new key not yet published", id2b, true)
	loginAs(green, "sealed with a key two rotations old", id1, false)
	id3 := discoverWith(green, "after the restart", k3)
	loginAs(green, "sealed after the restart", id3, true)

	// Past k2's not-after: it leaves the record and the file.
	period := cfg.KeyRotation
	if period <= 0 {
		period = DefaultKeyRotation
	}
	if err := green.nodeSealKeysDue(ctx, time.Now().Add(retiredKeyLife+time.Minute), period); err != nil {
		t.Fatal(err)
	}
	if got := publishedNodeKeys(green); !slices.Equal(got, []string{k3}) {
		t.Fatalf("past the retired key's not-after, green's record holds %v, want [%s]", got, k3)
	}
	loginAs(green, "sealed with a key past its not-after", id2, false)
	loginAs(green, "sealed with the current key", id3, true)
	path := filepath.Join(cfg.DataDir, nodeSealKeysFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, fi.Mode().Perm())
	}
	kept, err := openNodeSealKeys(cfg.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.pairs) != 1 || kept.pairs[0].ID() != k3 {
		t.Errorf("the data directory keeps %d keys, want only %s", len(kept.pairs), k3)
	}

	// The schedule rotates a key period old, and not one younger.
	if err := green.nodeSealKeysDue(ctx, time.Now().Add(period-time.Hour), period); err != nil {
		t.Fatal(err)
	}
	if got := publishedNodeKeys(green); !slices.Equal(got, []string{k3}) {
		t.Errorf("before the period: green's record holds %v, want [%s]", got, k3)
	}
	if err := green.nodeSealKeysDue(ctx, time.Now().Add(period), period); err != nil {
		t.Fatal(err)
	}
	if got := publishedNodeKeys(green); len(got) != 2 || got[1] != k3 {
		t.Fatalf("a period on: green's record holds %v, want a new key, then %s", got, k3)
	}
	loginAs(green, "sealed before the scheduled rotation", id3, true)
	discoverWith(green, "after the scheduled rotation", publishedNodeKeys(green)[0])
}

// A data directory from before rotation keeps its one key: it becomes the
// current key of the new file (0600), and the old file goes.
func TestNodeSealKeyFromLegacyFile(t *testing.T) {
	dir := t.TempDir()
	first, err := openNodeSealKeys(filepath.Join(dir, "new"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, legacyNodeSealKeyFile)
	if err := os.WriteFile(legacy, first.current().Private.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := openNodeSealKeys(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k.current().ID() != first.current().ID() || len(k.pairs) != 1 {
		t.Errorf("the legacy key %s became %s (%d keys)", first.current().ID(), k.current().ID(), len(k.pairs))
	}
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the legacy file stays: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, nodeSealKeysFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new file: %v, %v", fi, err)
	}
}
