package idgw

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A CAMARA login_hint "ipport:<address>[:<port>]" names a device by the
// public address (and, behind carrier-grade NAT, the port) the SP's
// server saw it come from: "ipport:84.125.93.10:59028",
// "ipport:[2001:db8::1]:59028", or without the port ("ipport:84.125.93.10",
// "ipport:[2001:db8::1]") where the address alone names the line (IPv6
// without NAT). Only the operator's network can map it to a subscriber,
// from its NAT and packet-gateway session records, and only for the
// address as it is used now: the gateway asks an AddressResolver when the
// login starts, after the send budgets are spent (each ask costs the
// operator a lookup), and an address it does not know, or one that
// resolves to another operator's number, gets the decoy login an unknown
// number gets (bclogin.go): the answers tell the SP nothing about who is
// behind an address until the person has proven possession.

// loginHintIPPort is the CAMARA hint's prefix.
const loginHintIPPort = "ipport:"

// IPPort is the public address and port of an ipport hint; Port is 0 when
// the hint names none.
type IPPort struct {
	Addr netip.Addr
	Port uint16
}

// String is the hint's form without the prefix.
func (p IPPort) String() string {
	a := p.Addr.String()
	if p.Addr.Is6() {
		a = "[" + a + "]"
	}
	if p.Port == 0 {
		return a
	}
	return a + ":" + strconv.Itoa(int(p.Port))
}

// AddressResolver is the operator's network as the gateway asks it who is
// behind a public address.
type AddressResolver interface {
	// SubscriberAt answers the MSISDN of the line the operator's network
	// sees at a (its address, and its port when not 0) at time at, or
	// ErrAddressUnknown when it knows none there (not its address, no
	// session now, or a shared address without the port that tells its
	// users apart). Any other error is a failure to ask.
	SubscriberAt(ctx context.Context, a IPPort, at time.Time) (uint64, error)
}

// ErrAddressUnknown: the operator's network knows no subscriber at the
// address.
var ErrAddressUnknown = errors.New("idgw: the operator's network knows no subscriber at this address")

// ParseIPPort reads an ipport hint's value (after "ipport:") strictly: a
// dotted IPv4 address, or an IPv6 address in brackets (no zone), then
// optionally ":" and a port from 1 to 65535 in decimal without leading
// zeros. An address no device can be seen at (unspecified, multicast,
// link-local, IPv4 broadcast) and an IPv4-mapped IPv6 address (write the
// IPv4 form) are refused.
func ParseIPPort(s string) (IPPort, error) {
	var host, port string
	if rest, ok := strings.CutPrefix(s, "["); ok {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return IPPort{}, errors.New("the IPv6 address's bracket is not closed")
		}
		host, rest = rest[:end], rest[end+1:]
		if rest != "" {
			var ok bool
			if port, ok = strings.CutPrefix(rest, ":"); !ok {
				return IPPort{}, errors.New("only :<port> may follow the IPv6 address")
			}
			if port == "" {
				return IPPort{}, errors.New("the port is empty")
			}
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			host, port, _ = strings.Cut(s, ":")
			if port == "" {
				return IPPort{}, errors.New("the port is empty")
			}
		default:
			return IPPort{}, errors.New("an IPv6 address is written in brackets: ipport:[2001:db8::1]:59028")
		}
	}
	addr, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return IPPort{}, fmt.Errorf("%q is not an IP address", host)
	case addr.Zone() != "":
		return IPPort{}, errors.New("an address with a zone names no device on the operator's network")
	case addr.Is4In6():
		return IPPort{}, errors.New("write an IPv4 address in its dotted form, not IPv4-mapped IPv6")
	case addr.Is4() && strings.HasPrefix(s, "["):
		return IPPort{}, errors.New("an IPv4 address is written without brackets")
	case addr.IsUnspecified(), addr.IsMulticast(), addr.IsLinkLocalUnicast(),
		addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return IPPort{}, errors.New("no device is seen at " + addr.String())
	}
	p := IPPort{Addr: addr}
	if port != "" {
		if len(port) > 5 || port[0] == '0' || strings.Trim(port, "0123456789") != "" {
			return IPPort{}, errors.New("the port is not a number from 1 to 65535")
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return IPPort{}, errors.New("the port is not a number from 1 to 65535")
		}
		p.Port = uint16(n)
	}
	return p, nil
}

// parseIPPortHint fills r from an ipport hint: refused when malformed, or
// when this operator has no address lookup.
func (g *Gateway) parseIPPortHint(r *AuthRequest, hint string) *OAuthError {
	if g.cfg.Addresses == nil {
		return bcError(CodeInvalidRequest, "login_hint ipport: is not supported by this operator (it has no network address lookup): use tel:+<number>")
	}
	p, err := ParseIPPort(hint[len(loginHintIPPort):])
	if err != nil {
		return bcError(CodeInvalidRequest, "login_hint ipport is malformed: "+err.Error())
	}
	r.LoginHint, r.LoginHintKind, r.Address = hint, HintIPPort, p
	return nil
}

// resolveAddressHint asks the operator's network for the subscriber at
// r's address, as the request arrived, and sets r.MSISDN. An address it
// does not know, or whose number is another operator's, is a reason not
// to challenge anyone (the decoy's why); a failure to ask is an error.
func (g *Gateway) resolveAddressHint(ctx context.Context, r *AuthRequest) (string, *OAuthError) {
	n, err := g.cfg.Addresses.SubscriberAt(ctx, r.Address, r.ReceivedAt)
	switch {
	case errors.Is(err, ErrAddressUnknown):
		return "the operator's network knows no subscriber at the address", nil
	case err != nil:
		g.log.Warn("backchannel: the operator's network address lookup failed",
			"client_id", r.ClientID, "correlation_id", r.CorrelationID, "error", err)
		e := newSafeError(CodeTemporarilyUnavailable, "the operator's network could not be asked for the address; try again later")
		e.status = 503
		return "", e
	}
	if res, ok := g.cfg.Registry.Resolve(n); !ok || res.Operator == nil || res.Operator.ID != g.cfg.OperatorID {
		// A roaming partner's or an MVNO's line on the operator's
		// network: not a subscriber this gateway can log in.
		return "the address's line is not a number of this operator", nil
	}
	r.MSISDN = n
	return "", nil
}
