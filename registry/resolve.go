package registry

import "net/netip"

// Resolution is the answer to which operator serves a number.
type Resolution struct {
	Operator *Operator
	// Ported is true when the number was ported: its operator is not the
	// holder of its range.
	Ported bool
}

// Resolve finds the operator serving the E.164 number n (its digits as an
// integer): a ported number's operator, else the holder of the longest range
// prefix. It takes no lock that a writer holds for long and allocates
// nothing.
func (r *Registry) Resolve(n uint64) (Resolution, bool) {
	if s, ok := r.ported.Lookup(n); ok {
		if o := r.operatorBySlot(s); o != nil {
			return Resolution{Operator: o, Ported: true}, true
		}
	}
	if n == 0 {
		return Resolution{}, false
	}
	if s := r.ranges.lookup(n, digitsOf(n)); s != 0 {
		if o := r.operatorBySlot(s); o != nil {
			return Resolution{Operator: o}, true
		}
	}
	return Resolution{}, false
}

// InRange reports whether n lies in a range some operator holds, ignoring
// ports: a ported number must come from a known range.
func (r *Registry) InRange(n uint64) bool {
	return n != 0 && r.ranges.lookup(n, digitsOf(n)) != 0
}

// OperatorByIP finds the operator whose IP range holds a, longest prefix
// first.
func (r *Registry) OperatorByIP(a netip.Addr) *Operator {
	if s := r.ips.lookup(a); s != 0 {
		return r.operatorBySlot(s)
	}
	return nil
}
