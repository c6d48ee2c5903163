package dev

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
)

// simNetwork is the demo operators' mobile networks as their gateways ask
// them who is behind a public address (CAMARA login_hint=ipport:, through
// idgw.AddressResolver, as a production node asks its operator's lookup
// service, operator/netlookup). Each demo number has a loopback address
// of its own, 127.0.1.<n> for the n-th demo number (in allDemoNumbers'
// order, so a resumed demo keeps them); no NAT: the address names the
// line, whatever the port or none. Each operator's network knows only its
// own lines.
type simNetwork struct {
	lines map[netip.Addr]demoLine
}

type demoLine struct {
	operator string
	msisdn   uint64
}

func newSimNetwork() (*simNetwork, error) {
	n := &simNetwork{lines: map[netip.Addr]demoLine{}}
	i := 0
	for _, op := range operators {
		for _, number := range op.numbers() {
			i++
			v, err := e164.Parse(number)
			if err != nil {
				return nil, fmt.Errorf("demo number %s: %w", number, err)
			}
			n.lines[demoAddress(i)] = demoLine{operator: op.id, msisdn: v}
		}
	}
	return n, nil
}

// demoAddress is the n-th demo number's address (n from 1; there are far
// fewer than 254).
func demoAddress(n int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 1, byte(n)}) }

// address is number's address on its operator's simulated network.
func (n *simNetwork) address(number string) (netip.Addr, bool) {
	v, err := e164.Parse(number)
	if err != nil {
		return netip.Addr{}, false
	}
	for a, l := range n.lines {
		if l.msisdn == v {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// of is operator's network.
func (n *simNetwork) of(operator string) idgw.AddressResolver { return operatorNetwork{n, operator} }

type operatorNetwork struct {
	n        *simNetwork
	operator string
}

func (o operatorNetwork) SubscriberAt(_ context.Context, a idgw.IPPort, _ time.Time) (uint64, error) {
	l, ok := o.n.lines[a.Addr]
	if !ok || l.operator != o.operator {
		return 0, idgw.ErrAddressUnknown
	}
	return l.msisdn, nil
}
