package discovery

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// CAMARA Telco Finder (Open Gateway "Routing / Telco Finder"): the same
// question as discovery, asked by an aggregator or an API consumer, answered
// with the operator's id, its API root (the issuer) and its OpenID provider
// metadata URL. No client credentials and no sealed number: the caller goes
// to the operator's own authorization server.
//
// Callers authenticate with an SP's Basic credentials for now; CAMARA's
// private_key_jwt client credentials come with the gateway's token endpoint.

type telcoFinderRequest struct {
	Target struct {
		PhoneNumber *string `json:"phoneNumber"`
		IPv4Address *struct {
			PublicAddress string `json:"publicAddress"`
			PublicPort    *int   `json:"publicPort"`
		} `json:"ipv4Address"`
		// CAMARA's device model has ipv6Address as a plain string; accept
		// the ipv4-style object too.
		IPv6Address json.RawMessage `json:"ipv6Address"`
	} `json:"target"`
	IncludeAPIRoot                   bool    `json:"includeApiRoot"`
	IncludeAuthProviderConfiguration bool    `json:"includeAuthProviderConfiguration"`
	PortabilitySearchMode            *string `json:"portabilitySearchMode"`
}

type telcoFinderResponse struct {
	OperatorID                string `json:"operatorId"`
	APIRoot                   string `json:"apiRoot,omitempty"`
	AuthProviderConfiguration string `json:"authProviderConfiguration,omitempty"`
}

// camaraError is CAMARA's error body.
type camaraError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *camaraError) Error() string { return e.Code + ": " + e.Message }

func camaraInvalid(msg string) *camaraError {
	return &camaraError{Status: http.StatusBadRequest, Code: "INVALID_ARGUMENT", Message: msg}
}

var (
	camaraUnauthenticated = &camaraError{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED",
		Message: "Request not authenticated due to missing, invalid, or expired credentials."}
	camaraNotFound = &camaraError{Status: http.StatusNotFound, Code: "NOT_FOUND",
		Message: "No operator of the federation serves the target."}
)

func (s *Service) handleTelcoFinder(c *fiber.Ctx) error {
	if id := c.Get("x-correlator"); id != "" && len(id) <= 256 {
		c.Set("x-correlator", id) // CAMARA's correlation header, echoed
	}
	if !s.ready(c) {
		return writeCamara(c, camaraNotReady)
	}
	var buf []byte
	_, clientID, secret, perr := parseBasic(c.Request().Header.Peek(fiber.HeaderAuthorization), buf)
	if perr != nil {
		return writeCamara(c, camaraUnauthenticated)
	}
	sp, _ := s.authenticate(clientID, secret)
	if sp == nil {
		return writeCamara(c, camaraUnauthenticated)
	}
	var req telcoFinderRequest
	op, cerr := s.telcoFind(c.Body(), &req, sp)
	if cerr != nil {
		return writeCamara(c, cerr)
	}
	resp := telcoFinderResponse{OperatorID: op.ID}
	if req.IncludeAPIRoot {
		resp.APIRoot = op.Issuer
	}
	if req.IncludeAuthProviderConfiguration {
		resp.AuthProviderConfiguration = op.URLs().OpenIDConfiguration
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(http.StatusOK).JSON(resp)
}

// telcoFind parses a search into req and finds the operator.
func (s *Service) telcoFind(body []byte, req *telcoFinderRequest, sp *spEntry) (*registry.Operator, *camaraError) {
	if err := json.Unmarshal(body, req); err != nil {
		return nil, camaraInvalid("the body is not a JSON search request")
	}
	if m := req.PortabilitySearchMode; m != nil && *m != "SHALLOW" && *m != "DEEP" {
		return nil, camaraInvalid("portabilitySearchMode must be SHALLOW or DEEP")
	}
	t := req.Target
	given := 0
	for _, set := range []bool{t.PhoneNumber != nil, t.IPv4Address != nil, len(t.IPv6Address) > 0 && string(t.IPv6Address) != "null"} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, camaraInvalid("target must hold exactly one of phoneNumber, ipv4Address and ipv6Address")
	}
	var op *registry.Operator
	switch {
	case t.PhoneNumber != nil:
		n, err := parseE164(*t.PhoneNumber)
		if err != nil {
			return nil, camaraInvalid(err.Error())
		}
		if res, ok := s.reg.Resolve(n); ok {
			op = res.Operator
		}
	case t.IPv4Address != nil:
		a, err := netip.ParseAddr(t.IPv4Address.PublicAddress)
		if err != nil || !a.Is4() {
			return nil, camaraInvalid("ipv4Address.publicAddress must be an IPv4 address")
		}
		if p := t.IPv4Address.PublicPort; p != nil && (*p < 0 || *p > 65535) {
			return nil, camaraInvalid("ipv4Address.publicPort must be 0-65535")
		}
		op = s.reg.OperatorByIP(a)
	default:
		a, err := parseIPv6Target(t.IPv6Address)
		if err != nil {
			return nil, camaraInvalid(err.Error())
		}
		op = s.reg.OperatorByIP(a)
	}
	if !s.routableFor(op, sp) {
		return nil, camaraNotFound
	}
	return op, nil
}

// parseE164 takes CAMARA's phoneNumber: '+' and 5-15 digits, and a number
// that is valid, as anywhere else in mcfed.
func parseE164(s string) (uint64, error) {
	if len(s) < 6 || len(s) > 16 || s[0] != '+' || s[1] == '0' || !allDigits([]byte(s[1:])) {
		return 0, errors.New("phoneNumber must be in E.164 form: '+' and the digits, e.g. +447911123456")
	}
	n, err := e164.FastValidator().Check([]byte(s))
	if err != nil {
		var ne *e164.Error
		if errors.As(err, &ne) {
			return 0, errors.New("phoneNumber is not a valid number: " + ne.Reason)
		}
		return 0, errors.New("phoneNumber is not a valid number")
	}
	return n, nil
}

func parseIPv6Target(raw json.RawMessage) (netip.Addr, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var obj struct {
			PublicAddress string `json:"publicAddress"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return netip.Addr{}, errors.New("ipv6Address must be an IPv6 address")
		}
		s = obj.PublicAddress
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return netip.Addr{}, errors.New("ipv6Address must be an IPv6 address")
	}
	return a.WithZone(""), nil
}

func writeCamara(c *fiber.Ctx, e *camaraError) error {
	if e.Status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="mcfed telco finder"`)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(e.Status).JSON(e)
}
