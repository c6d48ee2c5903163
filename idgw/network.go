package idgw

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/clientaddr"
)

// networkHeaders are the request headers the router's authenticators read
// (NetworkReader), canonical, each once: all the gateway copies of an
// authorize request's headers for them.
func (r *Router) networkHeaders() []string {
	var out []string
	for _, a := range r.auths {
		n, ok := optional[NetworkReader](a.impl)
		if !ok {
			continue
		}
		for _, h := range n.NetworkHeaders() {
			if h = http.CanonicalHeaderKey(h); h != "" && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// seamless reports whether an authenticator reads the network
// (NetworkReader): prompt=no_seam is then worth advertising.
func (r *Router) seamless() bool {
	for _, a := range r.auths {
		if _, ok := optional[NetworkReader](a.impl); ok {
			return true
		}
	}
	return false
}

// withoutNetworkReaders drops the authenticators that decide from the
// network: prompt=no_seam asks for a login the person does.
func withoutNetworkReaders(cands []registeredAuthenticator) []registeredAuthenticator {
	var out []registeredAuthenticator
	for _, c := range cands {
		if _, ok := optional[NetworkReader](c.impl); !ok {
			out = append(out, c)
		}
	}
	return out
}

// networkFirst moves the authenticators that decide from the network
// (seamless) to the front of their level's candidates (Candidates groups
// them by the first requested level each reaches): where one applies, the
// person has nothing to do, and where it does not, its Start says so at
// once and routing moves on. The SP's preference of levels stands.
func networkFirst(cands []registeredAuthenticator, acr []int) []registeredAuthenticator {
	group := func(c registeredAuthenticator) int {
		for i, level := range acr {
			if c.LoA >= level {
				return i
			}
		}
		return len(acr)
	}
	rank := func(c registeredAuthenticator) int {
		if _, ok := optional[NetworkReader](c.impl); ok {
			return 0
		}
		return 1
	}
	out := slices.Clone(cands)
	slices.SortStableFunc(out, func(a, b registeredAuthenticator) int {
		if ga, gb := group(a), group(b); ga != gb {
			return ga - gb
		}
		return rank(a) - rank(b)
	})
	return out
}

// networkOf copies what the authenticators read of the network a request
// came through: its source address and the headers they named (copied:
// fasthttp reuses its buffers). A header sent more than once counts by
// its first value, as fasthttp's Peek gives it; the mobile-data gateway
// that adds it must replace any the client sent.
func (g *Gateway) networkOf(c *fiber.Ctx) Network {
	n := Network{}
	if a, err := netip.ParseAddr(clientaddr.Of(c)); err == nil {
		n.ClientAddr = a.Unmap()
	}
	for _, h := range g.cfg.Router.networkHeaders() {
		if v := c.Get(h); v != "" {
			if n.Header == nil {
				n.Header = http.Header{}
			}
			n.Header.Set(h, strings.Clone(v))
		}
	}
	return n
}
