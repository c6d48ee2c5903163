// Package seamless is seamless login on the operator's mobile network:
// a request that reaches the gateway over the operator's own mobile data
// passes its mobile-data gateway, which adds a header with the line's
// MSISDN (header enrichment, X-MSISDN by default). The network, not the
// person, vouches for the number: no step of the person's, LoA 2 at most
// (amr SEAM_OK).
//
// The header is believed only from the networks the operator names (its
// mobile-data gateways' addresses, as the node sees the request's source:
// internal/clientaddr, behind the node's --trusted-proxies); from
// anywhere else anyone can write it, so it is ignored and logged. It
// never authenticates a number other than the login hint's (the person on
// that line is not the subscriber the SP asked for), and the gateway skips
// it for prompt=no_seam (idgw.NetworkReader). The mobile-data gateway must
// replace, not append to, any such header the client sent.
package seamless

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
)

// Name is the authenticator's name in routing and logs; AMR its amr.
const (
	Name = "seamless"
	AMR  = "SEAM_OK"
)

// DefaultHeader is the header the mobile-data gateway writes the MSISDN in
// when Config names none.
const DefaultHeader = "X-MSISDN"

// Config is the seamless authenticator's configuration.
type Config struct {
	// Header carries the MSISDN (digits, with or without "+"):
	// DefaultHeader when empty.
	Header string
	// TrustedNetworks are the mobile-data gateways' networks (CIDRs, or
	// single addresses): the header is believed only from a source in
	// one of them. At least one is required.
	TrustedNetworks []string
	// Log receives the refusals worth an operator's look (a header from
	// an untrusted source, a number that differs from the hint).
	Log *slog.Logger
}

// Errors Start answers when seamless does not apply to a request; each is
// idgw.ErrUnavailable, so routing moves on to the next authenticator.
var (
	ErrNoHeader    = fmt.Errorf("seamless: the request carries no enriched MSISDN: %w", idgw.ErrUnavailable)
	ErrUntrusted   = fmt.Errorf("seamless: the MSISDN header came from an untrusted source; ignored: %w", idgw.ErrUnavailable)
	ErrOtherNumber = fmt.Errorf("seamless: the network's MSISDN is not the login hint's: %w", idgw.ErrUnavailable)
	ErrBadHeader   = fmt.Errorf("seamless: the MSISDN header is not a number: %w", idgw.ErrUnavailable)
)

// Authenticator is seamless login (idgw.Authenticator, idgw.NetworkReader).
type Authenticator struct {
	header  string
	trusted []netip.Prefix
	log     *slog.Logger
}

var (
	_ idgw.Authenticator = (*Authenticator)(nil)
	_ idgw.NetworkReader = (*Authenticator)(nil)
	_ idgw.Headless      = (*Authenticator)(nil)
)

// New checks cfg and returns the authenticator.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{header: http.CanonicalHeaderKey(strings.TrimSpace(cfg.Header)), log: cfg.Log}
	if a.header == "" {
		a.header = DefaultHeader
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if len(cfg.TrustedNetworks) == 0 {
		return nil, errors.New("seamless: trusted_networks is required: the mobile-data gateways' networks, the only sources whose MSISDN header is believed")
	}
	for _, s := range cfg.TrustedNetworks {
		p, err := parseNetwork(s)
		if err != nil {
			return nil, fmt.Errorf("seamless: %w", err)
		}
		a.trusted = append(a.trusted, p)
	}
	return a, nil
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

// Info is what routing knows of it: LoA 2, amr SEAM_OK, for every active
// subscriber (the line is the enrolment).
func (a *Authenticator) Info() idgw.AuthenticatorInfo {
	return idgw.AuthenticatorInfo{Name: Name, LoA: 2, AMR: []string{AMR}}
}

// NetworkHeaders is the header the gateway copies into Challenge.Network.
func (a *Authenticator) NetworkHeaders() []string { return []string{a.header} }

// Headless: a server-initiated login comes from the SP's server, not
// over the person's mobile data; seamless cannot serve it.
func (a *Authenticator) Headless() bool { return false }

// Start decides at once: the network's MSISDN, from a trusted source, is
// the challenge's number. Anything else is one of the errors above
// (idgw.ErrUnavailable: routing moves on), never a failure the person
// sees.
func (a *Authenticator) Start(_ context.Context, ch idgw.Challenge) (idgw.Started, error) {
	v := strings.TrimSpace(ch.Network.Header.Get(a.header))
	if v == "" {
		return idgw.Started{}, ErrNoHeader
	}
	src := ch.Network.ClientAddr
	if !a.isTrusted(src) {
		a.log.Warn("seamless: an MSISDN header from a source outside the trusted networks is ignored",
			"header", a.header, "source", src.String())
		return idgw.Started{}, ErrUntrusted
	}
	if !strings.HasPrefix(v, "+") {
		v = "+" + v
	}
	n, err := e164.Parse(v)
	if err != nil {
		a.log.Warn("seamless: the MSISDN header from a trusted source is not a number", "header", a.header, "source", src.String())
		return idgw.Started{}, ErrBadHeader
	}
	if n != ch.MSISDN {
		// Another line than the one the SP asked for: the person there
		// may well be someone else (a shared hotspot, a family phone).
		a.log.Warn("seamless: the network's MSISDN differs from the login hint; not used", "source", src.String())
		return idgw.Started{}, ErrOtherNumber
	}
	return idgw.Started{State: state(n), Decided: true}, nil
}

// Check confirms what Start decided; the gateway calls it at once.
func (a *Authenticator) Check(_ context.Context, st []byte, _ url.Values) (idgw.Outcome, error) {
	if !strings.HasPrefix(string(st), statePrefix) {
		return idgw.Outcome{Status: idgw.Failed, Reason: "the subscriber was not authenticated"}, nil
	}
	return idgw.Outcome{Status: idgw.Succeeded}, nil
}

// statePrefix marks a number the network vouched for; the gateway keeps
// the state server-side, so it need not be secret.
const statePrefix = "seam-ok:"

func state(msisdn uint64) []byte { return []byte(statePrefix + strconv.FormatUint(msisdn, 10)) }

func (a *Authenticator) isTrusted(src netip.Addr) bool {
	if !src.IsValid() {
		return false
	}
	src = src.Unmap()
	for _, p := range a.trusted {
		if p.Contains(src) {
			return true
		}
	}
	return false
}
