package raft

import (
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// TestWriteIDs: a node's write ids are what a leader accepts, each new;
// the leader refuses a forwarded id that no node makes.
func TestWriteIDs(t *testing.T) {
	a, b := newWriteID(), newWriteID()
	if a == b || validWriteID(a) != nil || validWriteID(b) != nil {
		t.Fatalf("write ids %q and %q", a, b)
	}
	for _, bad := range []string{"x", strings.Repeat("a", 31), strings.Repeat("a", 34), strings.Repeat("g", 32)} {
		if registry.CodeOf(validWriteID(bad)) != registry.CodeInvalid {
			t.Fatalf("write id %q accepted", bad)
		}
	}
}
