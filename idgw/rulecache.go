package idgw

import (
	"sync"
	"time"
)

// ruleCacheTTL is how long a node serves a routing rule it has read
// without reading it again: a rule changed through another node of the
// operator applies here within it. Rules are the operator's policy, set
// by its admins now and then; reading two records at every authorize for
// them (an SP's rule, then the default) cost a login two store round
// trips.
const ruleCacheTTL = 5 * time.Second

// ruleCacheMax bounds the SPs whose rule is remembered: past it, the cache
// starts over (a federation has far fewer SPs logging in within the TTL).
const ruleCacheMax = 4096

// ruleCache remembers, per client_id, the order routing applies (nil: the
// operator's configured order) and when it was read. A change made
// through this node clears it at once.
type ruleCache struct {
	mu sync.Mutex
	m  map[string]cachedRule
}

type cachedRule struct {
	order []string
	read  time.Time
}

func (c *ruleCache) get(clientID string, now time.Time) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[clientID]
	if !ok || now.Sub(e.read) >= ruleCacheTTL || now.Before(e.read) {
		return nil, false
	}
	return e.order, true
}

func (c *ruleCache) put(clientID string, order []string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= ruleCacheMax {
		c.m = make(map[string]cachedRule)
	}
	c.m[clientID] = cachedRule{order: order, read: now}
}

func (c *ruleCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}
