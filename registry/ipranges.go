package registry

import (
	"net/netip"
	"sync"
)

// IPRange gives an operator the addresses of a CIDR block, so discovery can
// find the operator of a user browsing over mobile data.
type IPRange struct {
	CIDR     string `json:"cidr"` // canonical, e.g. "203.0.113.0/24"
	Operator string `json:"operator"`
	Meta
}

func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalidf("cidr %q: %v", s, err)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmappedBits(p.Addr())).Masked()
	if !p.IsValid() {
		return netip.Prefix{}, invalidf("cidr %q: an IPv4-mapped prefix must be at least /96", s)
	}
	return p, nil
}

// unmappedBits is how many prefix bits an IPv4-mapped IPv6 address loses
// when written as IPv4.
func unmappedBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func applyPutIPRange(tx *writeTxn, body []byte) error {
	var rg IPRange
	if err := decodeJSON(body, &rg); err != nil {
		return err
	}
	p, err := parseCIDR(rg.CIDR)
	if err != nil {
		return err
	}
	rg.CIDR = p.String()
	o := get[Operator](tx.Txn, tableOperators, rg.Operator)
	if o == nil {
		return notFoundf("IP range %s: operator %q does not exist", rg.CIDR, rg.Operator)
	}
	existing := get[IPRange](tx.Txn, tableIPRanges, rg.CIDR)
	if existing != nil && existing.Operator != rg.Operator {
		return conflictf("IP range %s already belongs to operator %s", rg.CIDR, existing.Operator)
	}
	if existing != nil {
		return nil
	}
	if err := put(tx, tableIPRanges, existing, &rg); err != nil {
		return err
	}
	tx.onCommit(func() { tx.r.ips.set(p, o.Slot) })
	return nil
}

func applyDeleteIPRange(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	p, err := parseCIDR(k.Key)
	if err != nil {
		return err
	}
	existing := get[IPRange](tx.Txn, tableIPRanges, p.String())
	if existing == nil {
		return notFoundf("IP range %s does not exist", p)
	}
	if err := tx.Delete(tableIPRanges, existing); err != nil {
		return err
	}
	tx.onCommit(func() { tx.r.ips.set(p, 0) })
	return nil
}

// IPRange returns the IP range with exactly this CIDR, or nil.
func (r *Registry) IPRange(cidr string) *IPRange {
	p, err := parseCIDR(cidr)
	if err != nil {
		return nil
	}
	return get[IPRange](r.db.Txn(false), tableIPRanges, p.String())
}

// IPRanges lists IP ranges a page at a time, optionally of one operator.
func (r *Registry) IPRanges(operator, after string, limit int) Page[IPRange] {
	var keep func(*IPRange) bool
	if operator != "" {
		keep = func(rg *IPRange) bool { return rg.Operator == operator }
	}
	return list(r.db, tableIPRanges, func(rg *IPRange) string { return rg.CIDR }, after, limit, keep)
}

// ipIndex answers longest-prefix matches over the IP ranges, one map per
// prefix length in use.
type ipIndex struct {
	mu     sync.RWMutex
	byBits map[int]map[netip.Prefix]Slot
	bits   []int // longest first
}

func newIPIndex() *ipIndex { return &ipIndex{byBits: map[int]map[netip.Prefix]Slot{}} }

func (x *ipIndex) set(p netip.Prefix, s Slot) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.byBits[p.Bits()]
	if m == nil {
		m = map[netip.Prefix]Slot{}
		x.byBits[p.Bits()] = m
	}
	if s == 0 {
		delete(m, p)
	} else {
		m[p] = s
	}
	x.bits = x.bits[:0]
	for b := 128; b >= 0; b-- {
		if len(x.byBits[b]) > 0 {
			x.bits = append(x.bits, b)
		}
	}
}

func (x *ipIndex) lookup(a netip.Addr) Slot {
	a = a.Unmap()
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, b := range x.bits {
		if b > a.BitLen() {
			continue
		}
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if s, ok := x.byBits[b][p]; ok {
			return s
		}
	}
	return 0
}
