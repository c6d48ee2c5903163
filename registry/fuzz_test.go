package registry

import (
	"errors"
	"testing"
)

// FuzzApply: any bytes handed to Apply as a command are applied, refused
// or found uninterpretable, never a panic; a refusal leaves the registry as
// it was, and an uninterpretable command leaves its applied index too.
func FuzzApply(f *testing.F) {
	f.Add(MustEncode(CmdPutOperator, op("red", "234_10")))
	f.Add(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447400", Operator: "red"}}}))
	ports, _ := EncodePorts([]Port{{Number: 447400123456, Operator: "red"}, {Number: 447400123457}})
	f.Add(ports)
	f.Add(MustEncode(CmdPutIPRange, IPRange{CIDR: "10.0.0.0/8", Operator: "red"}))
	f.Add(MustEncode(CmdDeleteOperator, Key{Key: "red"}))
	f.Fuzz(func(t *testing.T, cmd []byte) {
		r := New()
		if err := r.Apply(1, MustEncode(CmdPutOperator, op("red", "234_10"))); err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(2, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447400", Operator: "red"}}})); err != nil {
			t.Fatal(err)
		}
		before := r.Snapshot()
		if err := r.Apply(3, cmd); err != nil {
			var ue *UninterpretableError
			uninterpretable := errors.As(err, &ue)
			if CodeOf(err) == "" && !uninterpretable {
				t.Fatalf("Apply returned %v, neither a registry refusal nor an UninterpretableError", err)
			}
			if uninterpretable && r.AppliedIndex() != 2 {
				t.Fatalf("an uninterpretable command moved the applied index to %d", r.AppliedIndex())
			}
			after := r.Snapshot()
			if len(after.ranges) != len(before.ranges) || after.ported.Len() != before.ported.Len() ||
				r.Operator("red") == nil || r.PortedCount() != 0 {
				t.Fatal("a refused or uninterpretable command changed the registry")
			}
		}
	})
}
