package registry

import (
	"sync"
)

// Range gives an operator the numbers that begin with Prefix. Ranges nest:
// the longest prefix that matches a number wins.
type Range struct {
	Prefix   string `json:"prefix"` // E.164 digits with a leading '+', e.g. "+4479"
	Operator string `json:"operator"`
	Meta
}

// RangeBatch is the body of a CmdPutRanges command: ranges applied all or
// nothing.
type RangeBatch struct {
	Ranges []Range `json:"ranges"`
}

func applyPutRanges(tx *writeTxn, body []byte) error {
	var b RangeBatch
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	type change struct {
		value  uint64
		digits int
		slot   Slot
	}
	changes := make([]change, 0, len(b.Ranges))
	seen := make(map[string]string, len(b.Ranges))
	for i := range b.Ranges {
		rg := b.Ranges[i]
		v, d, err := ParsePrefix(rg.Prefix)
		if err != nil {
			return invalidf("range %d: %v", i+1, err)
		}
		rg.Prefix = FormatMSISDN(v)
		if prev, dup := seen[rg.Prefix]; dup && prev != rg.Operator {
			return conflictf("range %s is given to both %s and %s", rg.Prefix, prev, rg.Operator)
		}
		seen[rg.Prefix] = rg.Operator
		o := get[Operator](tx.Txn, tableOperators, rg.Operator)
		if o == nil {
			return notFoundf("range %s: operator %q does not exist", rg.Prefix, rg.Operator)
		}
		existing := get[Range](tx.Txn, tableRanges, rg.Prefix)
		if existing != nil {
			if existing.Operator != rg.Operator {
				return conflictf("range %s already belongs to operator %s", rg.Prefix, existing.Operator)
			}
			continue // the same range again: nothing to change
		}
		if err := put(tx, tableRanges, nil, &rg); err != nil {
			return err
		}
		changes = append(changes, change{v, d, o.Slot})
	}
	tx.onCommit(func() {
		tx.r.ranges.update(func(set func(uint64, int, Slot)) {
			for _, c := range changes {
				set(c.value, c.digits, c.slot)
			}
		})
	})
	return nil
}

func applyDeleteRanges(tx *writeTxn, body []byte) error {
	var k Keys
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	type gone struct {
		value  uint64
		digits int
	}
	var removed []gone
	for _, p := range k.Keys {
		v, d, err := ParsePrefix(p)
		if err != nil {
			return invalidf("range %q: %v", p, err)
		}
		existing := get[Range](tx.Txn, tableRanges, FormatMSISDN(v))
		if existing == nil {
			return notFoundf("range %s does not exist", p)
		}
		if err := tx.Delete(tableRanges, existing); err != nil {
			return err
		}
		removed = append(removed, gone{v, d})
	}
	tx.onCommit(func() {
		tx.r.ranges.update(func(set func(uint64, int, Slot)) {
			for _, g := range removed {
				set(g.value, g.digits, 0)
			}
		})
	})
	return nil
}

// Range returns the range with exactly this prefix ("+4479"), or nil.
func (r *Registry) Range(prefix string) *Range {
	v, _, err := ParsePrefix(prefix)
	if err != nil {
		return nil
	}
	return get[Range](r.db.Txn(false), tableRanges, FormatMSISDN(v))
}

// Ranges lists ranges in prefix order (as strings), a page at a time,
// optionally only those of one operator.
func (r *Registry) Ranges(operator, after string, limit int) Page[Range] {
	var keep func(*Range) bool
	if operator != "" {
		keep = func(rg *Range) bool { return rg.Operator == operator }
	}
	return list(r.db, tableRanges, func(rg *Range) string { return rg.Prefix }, after, limit, keep)
}

// maxDigits is the longest E.164 number (ITU-T E.164 §6).
const maxDigits = 15

var pow10 = func() [maxDigits + 1]uint64 {
	var p [maxDigits + 1]uint64
	p[0] = 1
	for i := 1; i <= maxDigits; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// digitsOf returns how many decimal digits n has (n > 0).
func digitsOf(n uint64) int {
	d := 1
	for d < maxDigits && n >= pow10[d] {
		d++
	}
	return d
}

// prefixIndex answers longest-prefix matches over the number ranges. memdb's
// radix tree can do it too, but costs ~3 µs a lookup at a million ranges; a
// hash map per prefix length costs one map probe per length in use.
type prefixIndex struct {
	mu    sync.RWMutex
	byLen [maxDigits + 1]map[uint64]Slot
	// lens lists the prefix lengths in use, longest first.
	lens []int
}

func newPrefixIndex() *prefixIndex {
	p := &prefixIndex{}
	for i := range p.byLen {
		p.byLen[i] = map[uint64]Slot{}
	}
	return p
}

// lookup returns the slot of the longest prefix of n (which has digits
// digits), or 0.
func (p *prefixIndex) lookup(n uint64, digits int) Slot {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, l := range p.lens {
		if l > digits {
			continue
		}
		if s, ok := p.byLen[l][n/pow10[digits-l]]; ok {
			return s
		}
	}
	return 0
}

// update runs fn with a setter, under one write lock: slot 0 removes.
func (p *prefixIndex) update(fn func(set func(value uint64, digits int, s Slot))) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(func(v uint64, d int, s Slot) {
		if s == 0 {
			delete(p.byLen[d], v)
		} else {
			p.byLen[d][v] = s
		}
	})
	p.lens = p.lens[:0]
	for l := maxDigits; l > 0; l-- {
		if len(p.byLen[l]) > 0 {
			p.lens = append(p.lens, l)
		}
	}
}

func (p *prefixIndex) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, m := range p.byLen {
		n += len(m)
	}
	return n
}
