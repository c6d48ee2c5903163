package discovery

import (
	"sync"
	"sync/atomic"

	"github.com/mcfed/mcfed/registry"
)

// spCache keeps what discovery reads of an SP from the registry (the SP with
// its standing, and which operators accept it) for as long as the registry
// stays at the applied index it was read at. Every command the replica
// applies moves the index and starts an empty generation, so a suspension,
// a rotated secret, a changed redirect URI or an operator's policy is
// answered with as soon as the replica has it; between commands a request
// costs a map lookup instead of memdb transactions (most of the handler's
// allocations).
//
// The index is read before the rows, and the registry publishes an index
// only after the command's writes are visible: what a generation holds is
// never older than the index it is filed under.
type spCache struct {
	reg Registry
	gen atomic.Pointer[spGen]
}

// maxCachedSPs bounds one generation. Only SPs the registry holds are kept
// (an unknown client id is looked up every time), so this is a guard, not
// a policy: past it, SPs are read from the registry as before.
const maxCachedSPs = 1 << 16

type spGen struct {
	index uint64
	mu    sync.RWMutex
	sps   map[string]*spEntry
}

// spEntry is one SP as a generation saw it.
type spEntry struct {
	sp *registry.ServiceProvider
	// By operator id, copied on write (operators are few and known, so
	// they stay small): Registry.AcceptedBy, and the parts of the answer
	// for that operator. The parts hold the SP's secret at the operator,
	// derived from the secret it authenticated with: there is one secret
	// that passes the SP's check (SecretCache.Verify), so one derived
	// secret per operator while the SP's row stays the same.
	accepted cowMap[bool]
	parts    cowMap[*answerParts]
}

// current is the generation of the registry's applied index now.
func (c *spCache) current() *spGen {
	idx := c.reg.AppliedIndex()
	g := c.gen.Load()
	if g != nil && g.index == idx {
		return g
	}
	n := &spGen{index: idx, sps: make(map[string]*spEntry)}
	if c.gen.CompareAndSwap(g, n) {
		return n
	}
	// Another request replaced g first: use its generation if it is this
	// index's, else this private one (correct, only not shared).
	if g = c.gen.Load(); g != nil && g.index == idx {
		return g
	}
	return n
}

// serviceProvider is Registry.ServiceProvider(clientID) through the cache:
// nil when there is no such SP.
func (c *spCache) serviceProvider(clientID []byte) *spEntry {
	g := c.current()
	g.mu.RLock()
	e := g.sps[string(clientID)]
	g.mu.RUnlock()
	if e != nil {
		return e
	}
	sp := c.reg.ServiceProvider(string(clientID))
	if sp == nil {
		return nil
	}
	e = &spEntry{sp: sp}
	g.mu.Lock()
	if old := g.sps[sp.ClientID]; old != nil {
		e = old
	} else if len(g.sps) < maxCachedSPs {
		g.sps[sp.ClientID] = e
	}
	g.mu.Unlock()
	return e
}

// acceptedBy is Registry.AcceptedBy(op, e.sp) through the cache.
func (c *spCache) acceptedBy(e *spEntry, op string) bool {
	if v, ok := e.accepted.load(op); ok {
		return v
	}
	v := c.reg.AcceptedBy(op, e.sp)
	e.accepted.store(op, v)
	return v
}

// cowMap is a small map read without a lock and copied on write.
type cowMap[V any] struct {
	m atomic.Pointer[map[string]V]
}

func (c *cowMap[V]) load(k string) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

func (c *cowMap[V]) store(k string, v V) {
	for {
		old := c.m.Load()
		var n map[string]V
		if old == nil {
			n = map[string]V{k: v}
		} else {
			n = make(map[string]V, len(*old)+1)
			for ok, ov := range *old {
				n[ok] = ov
			}
			n[k] = v
		}
		if c.m.CompareAndSwap(old, &n) {
			return
		}
	}
}
