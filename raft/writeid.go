package raft

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/mcfed/mcfed/registry"
)

// Every call of Apply is one write, named by a write id that every try of
// it carries: the local proposal, and each forward to a leader (in
// writeIDHeader). Apply tries again when it cannot tell whether a try was
// committed (the leader's answer was lost, the leader stepped down with
// the entry in its log); the leader states the id in the command's header,
// and the registry answers a try of a write it already applied with that
// write's outcome instead of applying it again (registry/writes.go).

// writeIDHeader carries a forwarded write's id to the leader.
const writeIDHeader = "Mcfed-Write-Id"

// writeIDBytes is the randomness of a write id: 128 bits.
const writeIDBytes = 16

type writeIDKey struct{}

// newWriteID is a write id: 128 random bits, in hex.
func newWriteID() string {
	b := make([]byte, writeIDBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// withWriteID makes ctx carry the write id of the write being made.
func withWriteID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, writeIDKey{}, id)
}

// writeIDFrom is the write id ctx carries, "" for none (a leader's own
// work: a join's admission, the pruning of join tokens).
func writeIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(writeIDKey{}).(string)
	return id
}

// validWriteID refuses a forwarded write id that no node makes.
func validWriteID(id string) error {
	if b, err := hex.DecodeString(id); err != nil || len(b) != writeIDBytes {
		return &registry.Error{Code: registry.CodeInvalid, Message: "a write id is 32 hexadecimal digits"}
	}
	return nil
}
