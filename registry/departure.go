package registry

import (
	"net/netip"
	"slices"
)

// applyRemoveOperator removes an operator that leaves the federation with
// everything that names it, in one command so that no replica ever answers
// from half of it: its number ranges and IP ranges, the numbers ported to it
// (they return to their ranges' holders), its SP policies, its node records
// (their node credentials revoked), its place in SPs' operator lists, and
// the operator record. DELETE
// /v1/operators/{id} refuses while such rows exist; this is the deliberate
// form. Its cost is one pass over the ported numbers, acceptable for an
// event that happens once in an operator's life.
func applyRemoveOperator(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	o := get[Operator](tx.Txn, tableOperators, k.Key)
	if o == nil {
		return notFoundf("operator %q does not exist", k.Key)
	}
	slot := o.Slot

	var unports []PortRow
	if tx.r.ported.CountBySlot(slot) > 0 {
		tx.r.ported.Snapshot().Range(func(n uint64, s Slot) bool {
			if s == slot {
				unports = append(unports, PortRow{Number: n})
			}
			return true
		})
	}
	var ips []netip.Prefix
	it, err := tx.Get(tableIPRanges, "operator", o.ID)
	if err != nil {
		return err
	}
	for v := it.Next(); v != nil; v = it.Next() {
		p, err := parseCIDR(v.(*IPRange).CIDR)
		if err != nil {
			return err
		}
		ips = append(ips, p)
	}
	it, err = tx.Get(tableNodes, "operator", o.ID)
	if err != nil {
		return err
	}
	var nodes []string
	for v := it.Next(); v != nil; v = it.Next() {
		nodes = append(nodes, v.(*Node).ID)
	}
	for _, n := range nodes {
		if err := revokeNodeCredential(tx, n); err != nil {
			return err
		}
	}
	tx.nodesChanged() // the operator's nodes go (sealkeys.go)
	for _, table := range []string{tableIPRanges, tableSPPolicies, tableNodes} {
		if _, err := tx.DeleteAll(table, "operator", o.ID); err != nil {
			return err
		}
	}
	it, err = tx.Get(tableSPs, "operator", o.ID)
	if err != nil {
		return err
	}
	var named []*ServiceProvider
	for v := it.Next(); v != nil; v = it.Next() {
		named = append(named, v.(*ServiceProvider))
	}
	for _, sp := range named {
		// Rows are immutable once inserted: change a copy.
		c := *sp
		c.Operators = slices.DeleteFunc(slices.Clone(sp.Operators), func(id string) bool { return id == o.ID })
		if err := put(tx, tableSPs, sp, &c); err != nil {
			return err
		}
	}
	if err := tx.Delete(tableOperators, o); err != nil {
		return err
	}
	tx.onCommit(func() {
		all, _ := tx.r.ranges.entries()
		tx.r.ranges.update(func(set func(prefix, Slot)) {
			for _, e := range all {
				if e.slot == slot {
					set(e.p, 0)
				}
			}
		})
		for _, p := range ips {
			tx.r.ips.set(p, 0)
		}
		tx.r.ported.Apply(unports)
		tx.r.setSlot(slot, nil)
	})
	return nil
}
