package idgw

import (
	"sync"
	"time"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/registry"
)

// APIRegistry is a Registry that also holds the catalogue's APIs
// (registry.API): the request limit each SP has at an endpoint. A Registry
// without them leaves every endpoint at the gateway's Throttle.
type APIRegistry interface {
	API(id string) *registry.API
}

// apiLimits are the per-SP limiters of the endpoints the catalogue names,
// each made again when its API's limits change.
type apiLimits struct {
	mu sync.Mutex
	by map[string]*apiLimit
}

type apiLimit struct {
	throttle Throttle
	keyed    *budget.Keyed
}

// endpointLimiter is the limiter of endpoint ("userinfo", "premiuminfo"):
// its API's RatePerSP and BurstPerSP, counted per SP on this node, or the
// gateway's Throttle when the catalogue has no such API.
func (g *Gateway) endpointLimiter(endpoint string) *budget.Keyed {
	reg, ok := g.cfg.Registry.(APIRegistry)
	if !ok {
		return g.limiter
	}
	api := reg.API(endpoint)
	if api == nil {
		return g.limiter
	}
	t := Throttle{Rate: api.RatePerSP, Burst: api.BurstPerSP}
	g.apiLimits.mu.Lock()
	defer g.apiLimits.mu.Unlock()
	l := g.apiLimits.by[endpoint]
	if l == nil || l.throttle != t {
		if g.apiLimits.by == nil {
			g.apiLimits.by = map[string]*apiLimit{}
		}
		l = &apiLimit{throttle: t, keyed: budget.New(t, t, func() time.Time { return g.now() })}
		g.apiLimits.by[endpoint] = l
	}
	return l.keyed
}
