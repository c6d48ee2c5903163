package sms

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// TestPagesFindTheirChallenge: a code page's token finds its challenge in
// one read (the challenge's id is the token's), as a link's does when
// the challenge has no code; a challenge an earlier node started is
// found through its page or link record.
func TestPagesFindTheirChallenge(t *testing.T) {
	store, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	cs := challenges{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	expires := time.Now().Add(time.Hour)

	page := "page-token-of-now"
	ops, err := cs.createOps(challengeIDOf(page), &challengeRecord{Expires: expires, View: viewRecord{SP: "Now"}}, false, expires)
	if err != nil || len(ops) != 1 {
		t.Fatalf("a code challenge's records: %d, %v; want the challenge alone", len(ops), err)
	}
	if err := store.Batch(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if c, ok := cs.byPage(ctx, page); !ok || c.View.SP != "Now" {
		t.Fatalf("the page of a challenge: %+v %v", c, ok)
	}

	// As a node before challengeIDOf stored one: a random id, and the
	// page's record pointing at it.
	old, oldID := "page-token-of-before", [16]byte{1, 2, 3}
	b, _ := (&challengeRecord{Expires: expires, View: viewRecord{SP: "Before"}}).encode()
	key := pageHash(old)
	if err := store.Batch(ctx, state.Op{Kind: kindChallenge, Key: oldID[:], Value: b, Expires: expires},
		state.Op{Kind: kindPage, Key: key[:], Value: oldID[:], Expires: expires}); err != nil {
		t.Fatal(err)
	}
	if c, ok := cs.byPage(ctx, old); !ok || c.View.SP != "Before" {
		t.Fatalf("the page of an earlier node's challenge: %+v %v", c, ok)
	}
	if _, ok := cs.byPage(ctx, "no-such-page"); ok {
		t.Fatal("an unknown page token found a challenge")
	}

	// A link's challenge without a code: found by the link's id; one an
	// earlier node started, through its link's record.
	token := "link-token-of-now"
	c := &challengeRecord{Expires: expires, LinkHash: func() []byte { h := hashToken(token); return h[:] }(), View: viewRecord{SP: "Link"}}
	if ops, err = cs.createOps(challengeIDOfLink(token), c, true, expires); err != nil || len(ops) != 1 {
		t.Fatalf("a link challenge's records: %d, %v; want the challenge alone", len(ops), err)
	}
	if err := store.Batch(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if _, c, ok := cs.byLink(ctx, token, true); !ok || c.View.SP != "Link" {
		t.Fatalf("the link of a challenge: %+v %v", c, ok)
	}
	oldToken, oldLinkID := "link-token-of-before", [16]byte{4, 5, 6}
	b, _ = (&challengeRecord{Expires: expires, View: viewRecord{SP: "Link before"}}).encode()
	key = hashToken(oldToken)
	if err := store.Batch(ctx, state.Op{Kind: kindChallenge, Key: oldLinkID[:], Value: b, Expires: expires},
		state.Op{Kind: kindLink, Key: key[:], Value: oldLinkID[:], Expires: expires}); err != nil {
		t.Fatal(err)
	}
	if id, c, ok := cs.byLink(ctx, oldToken, true); !ok || id != oldLinkID || c.View.SP != "Link before" {
		t.Fatalf("the link of an earlier node's challenge: %+v %v", c, ok)
	}
}
