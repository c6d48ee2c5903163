package raft

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// TestErrorsCrossTheWireByCode: what the leader answers, the follower gets
// back as the same kind of error, by its code alone.
func TestErrorsCrossTheWireByCode(t *testing.T) {
	for _, c := range []registry.Code{registry.CodeInvalid, registry.CodeNotFound, registry.CodeConflict, registry.CodeStale, registry.CodeForbidden} {
		got := roundTrip(t, &registry.Error{Code: c, Message: "no: " + string(c)})
		var re *registry.Error
		if !errors.As(got, &re) || re.Code != c || re.Message != "no: "+string(c) {
			t.Fatalf("refusal %s came back as %#v", c, got)
		}
	}
	for _, want := range []error{ErrNotLeader, ErrBadJoinToken, ErrNodeAuth, ErrUnauthenticated, ErrCredentialsPending} {
		if got := roundTrip(t, want); !errors.Is(got, want) {
			t.Fatalf("%v came back as %v", want, got)
		}
	}
	var remote *RemoteError
	if got := roundTrip(t, errors.New("disk full")); !errors.As(got, &remote) || remote.Status != 500 || remote.Message == "disk full" {
		t.Fatalf("an internal error came back as %#v (its message must stay on the leader)", got)
	}
	// An answer that is no node's: a 503 is worth another try, the rest not.
	if err := fromWire(503, []byte("<html>busy</html>")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a proxy's 503: %v", err)
	}
	if err := fromWire(502, []byte("<html>bad gateway</html>")); !errors.As(err, &remote) {
		t.Fatalf("a proxy's 502: %v", err)
	}
}

func roundTrip(t *testing.T, err error) error {
	t.Helper()
	w := toWire(err)
	body, jerr := json.Marshal(w)
	if jerr != nil {
		t.Fatal(jerr)
	}
	return fromWire(w.Status, body)
}
