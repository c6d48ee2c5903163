// Package clientaddr says which address a request comes from, for the
// failure budgets and the log lines that name it: the connection's
// address, or, when the connection comes from a trusted proxy (a load
// balancer in front of the node), the client's address as the proxies
// recorded it in X-Forwarded-For.
//
// The trusted networks are fiber's own setting (fiber.Config's
// EnableTrustedProxyCheck and TrustedProxies, filled by FiberConfig), so
// that fiber's IsProxyTrusted decides whether the connection is a proxy.
// fiber's ProxyHeader is left unset on purpose: with it, c.IP() returns
// the leftmost X-Forwarded-For value, which the client writes itself, so
// anyone behind the proxy could pick the address its budget is kept
// under. Of walks the header from the right instead, past the hops the
// trusted proxies added, to the first address no trusted network holds:
// the one the nearest trusted proxy saw connect.
//
// Only X-Forwarded-For, not Forwarded (RFC 7239): the load balancers an
// operator puts in front (nginx, HAProxy, Envoy, the clouds') append to
// X-Forwarded-For, most never write Forwarded, and a node that read a
// header its proxy passes through untouched would take the client's word
// for its address. One header, the one the proxy writes.
package clientaddr

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/gofiber/fiber/v2"
)

// Networks checks a list of trusted proxy networks (CIDRs, or single
// addresses) and returns it as CIDRs, each masked, for FiberConfig.
func Networks(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, s := range list {
		p, err := parseNetwork(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.String())
	}
	return out, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR such as 10.0.0.0/8) or an address", s)
}

// FiberConfig makes cfg trust the proxies in networks (Networks' output)
// for Of. With none, nothing is trusted: every request's address is its
// connection's, whatever its headers say.
func FiberConfig(cfg *fiber.Config, networks []string) {
	cfg.EnableTrustedProxyCheck = true
	cfg.TrustedProxies = networks
	cfg.ProxyHeader = "" // c.IP() would take the leftmost, client-written value
}

// Of is the address c comes from: its connection's, unless the app
// trusts the connection as a proxy (FiberConfig); then the rightmost
// X-Forwarded-For hop that no trusted network holds (the leftmost one
// when all are trusted; the connection's when there is no header; the
// nearest trusted hop when a hop is not an address, a proxy's fault).
func Of(c *fiber.Ctx) string {
	remote := c.Context().RemoteIP()
	cfg := c.App().Config()
	// An app that did not opt in trusts nobody (fiber would trust all).
	if !cfg.EnableTrustedProxyCheck || len(cfg.TrustedProxies) == 0 || !c.IsProxyTrusted() {
		return remote.String()
	}
	trusted := make([]netip.Prefix, 0, len(cfg.TrustedProxies))
	for _, s := range cfg.TrustedProxies {
		if p, err := parseNetwork(s); err == nil {
			trusted = append(trusted, p)
		}
	}
	nearest := remote.String()
	headers := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	for i := len(headers) - 1; i >= 0; i-- {
		h := headers[i]
		for len(h) > 0 {
			j := bytes.LastIndexByte(h, ',')
			hop := bytes.TrimSpace(h[j+1:])
			h = h[:max(j, 0)]
			if len(hop) == 0 {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				return nearest
			}
			if !contains(trusted, a) {
				return a.String()
			}
			nearest = a.String()
		}
	}
	return nearest
}

// parseHop reads one X-Forwarded-For value: an address, with a port or
// IPv6 brackets as some proxies write it.
func parseHop(b []byte) (netip.Addr, bool) {
	s := string(b)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
