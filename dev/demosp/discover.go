package demosp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcfed/mcfed/client"
)

// failure is a login that cannot go on, as the SP's page tells it: in
// words for the person, with the protocol detail folded away for the
// developer, and the HTTP status that fits (400 for what the person typed
// or chose, 403 for the operator's refusal, 502 for an upstream failure).
type failure struct {
	Status         int
	Title, Message string
	Detail         string
}

func (f *failure) Error() string { return f.Title + ": " + f.Detail }

func upstream(title, format string, args ...any) *failure {
	return &failure{Status: http.StatusBadGateway, Title: title,
		Message: "Something went wrong between this shop and Mobile Connect. Try again in a moment.",
		Detail:  fmt.Sprintf(format, args...)}
}

// spOperator is what discovery told the SP about the serving operator.
type spOperator struct {
	Name                string
	ClientID, Secret    string
	Issuer, Token, JWKS string
	Authorize, UserInfo string
	PremiumInfo         string
	Metadata            string // openid-configuration
	SubscriberID        string
}

// endpoint is the next node's discovery endpoint, in turn.
func (s *SP) endpoint() string {
	return s.cfg.Discovery[int(s.next.Add(1))%len(s.cfg.Discovery)]
}

// discoverNumber asks a node which operator serves the number (digits,
// E.164 without "+"), as the GSMA SDKs do: POST, form-encoded.
func (s *SP) discoverNumber(ctx context.Context, digits string) (spOperator, *failure) {
	form := url.Values{"MSISDN": {digits}, "Redirect_URL": {s.CallbackURL()}, "Using-Mobile-Data": {"0"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint(), strings.NewReader(form.Encode()))
	if err != nil {
		return spOperator{}, upstream("Discovery failed", "%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	op, f := s.discover(req)
	if f == nil && op.SubscriberID == "" {
		return spOperator{}, upstream("Discovery failed", "the answer for a number has no subscriber_id")
	}
	return op, f
}

// completeSelection is discovery after operator selection: GET with the
// network the person picked (spec §1.2 b). The answer has no
// subscriber_id: the selection page's callback brought it, if any.
func (s *SP) completeSelection(ctx context.Context, mcc, mnc string) (spOperator, *failure) {
	q := url.Values{"Selected-MCC": {mcc}, "Selected-MNC": {mnc}, "Redirect_URL": {s.CallbackURL()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint()+"?"+q.Encode(), nil)
	if err != nil {
		return spOperator{}, upstream("Discovery failed", "%v", err)
	}
	return s.discover(req)
}

// discover sends a discovery request with the SP's credentials and reads
// the operator's answer (spec §1.2 a).
func (s *SP) discover(req *http.Request) (spOperator, *failure) {
	req.SetBasicAuth(s.cfg.ClientID, s.cfg.Secret)
	req.Header.Set("Accept", "application/json")
	var body client.DiscoveryAnswer
	status, err := s.doJSON(req, &body)
	switch {
	case err != nil:
		return spOperator{}, upstream("Mobile Connect could not be reached", "discovery: %v", err)
	case body.Error == "Not_Found_Entity":
		// Discovery errors may come with 200 (the SDKs look at the field).
		return spOperator{}, &failure{Status: http.StatusBadRequest, Title: "No operator for this number",
			Message: "No mobile operator offering Mobile Connect here serves that number. Check it, or choose your operator instead.",
			Detail:  fmt.Sprintf("discovery answered %d: %s (%s)", status, body.Error, body.Description)}
	case body.Error != "":
		return spOperator{}, upstream("Discovery failed", "discovery answered %d: %s (%s)", status, body.Error, body.Description)
	case status != http.StatusOK:
		return spOperator{}, upstream("Discovery failed", "%s answered %d", req.URL.Redacted(), status)
	}
	op := spOperator{Name: body.Response.ServingOperator, ClientID: body.Response.ClientID,
		Secret: body.Response.ClientSecret, SubscriberID: body.SubscriberID}
	if op.ClientID == "" { // the SDKs fall back to the SP's own credentials
		op.ClientID, op.Secret = s.cfg.ClientID, s.cfg.Secret
	}
	links := body.Links()
	op.Authorize, op.Token, op.UserInfo, op.JWKS, op.Issuer = links["authorization"], links["token"], links["userinfo"], links["jwks"], links["issuer"]
	op.PremiumInfo, op.Metadata = links["premiuminfo"], links["openid-configuration"]
	if op.Metadata == "" && op.Issuer != "" {
		// As the Java SDK derives it.
		op.Metadata = strings.TrimRight(op.Issuer, "/") + "/.well-known/openid-configuration"
	}
	if op.Authorize == "" || op.Token == "" || op.UserInfo == "" || op.JWKS == "" || op.Issuer == "" {
		return spOperator{}, upstream("Discovery failed", "the answer lacks the operator's endpoints: %v", links)
	}
	return op, nil
}

// startSelection asks discovery, without a number, where the person picks
// their operator: 202 with the operatorSelection link to a JSON client.
func (s *SP) startSelection(ctx context.Context) (string, *failure) {
	q := url.Values{"Redirect_URL": {s.CallbackURL()}, "Using-Mobile-Data": {"0"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint()+"?"+q.Encode(), nil)
	if err != nil {
		return "", upstream("Discovery failed", "%v", err)
	}
	req.SetBasicAuth(s.cfg.ClientID, s.cfg.Secret)
	req.Header.Set("Accept", "application/json")
	var body struct {
		Links       []struct{ Rel, Href string } `json:"links"`
		Error       string                       `json:"error"`
		Description string                       `json:"description"`
	}
	status, err := s.doJSON(req, &body)
	switch {
	case err != nil:
		return "", upstream("Mobile Connect could not be reached", "discovery: %v", err)
	case body.Error != "" || status != http.StatusAccepted:
		return "", upstream("Discovery failed", "discovery without a number answered %d %s (%s), not 202 with the operator selection",
			status, body.Error, body.Description)
	}
	for _, l := range body.Links {
		if strings.EqualFold(l.Rel, "operatorSelection") && strings.HasPrefix(l.Href, "http") {
			return l.Href, nil
		}
	}
	return "", upstream("Discovery failed", "the answer has no operatorSelection link: %+v", body.Links)
}

// metadata is what the SP reads of the operator's OpenID Provider
// metadata: whether it offers what the person chose.
type metadata struct {
	ACRValues []string `json:"acr_values_supported"`
	Scopes    []string `json:"scopes_supported"`
}

// offers checks the person's choices against the operator's metadata
// before sending them there: a level or product it does not offer is said
// on the SP's page, not found out from an error at the gateway.
func (s *SP) offers(ctx context.Context, op spOperator, c choices) *failure {
	b, err := s.get(ctx, op.Metadata, "")
	if err != nil {
		return upstream("The operator could not be reached", "%s's metadata: %v", op.Name, err)
	}
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return upstream("The operator could not be reached", "%s's metadata: %v", op.Name, err)
	}
	if !slices.Contains(m.ACRValues, c.ACR) {
		return &failure{Status: http.StatusBadRequest, Title: "Level of assurance not offered",
			Message: fmt.Sprintf("%s does not offer level of assurance %s. Choose another level.", op.Name, c.ACR),
			Detail:  fmt.Sprintf("acr_values_supported %v at %s", m.ACRValues, op.Metadata)}
	}
	for _, sc := range c.Product.Scopes {
		if !slices.Contains(m.Scopes, sc) {
			return &failure{Status: http.StatusBadRequest, Title: "Product not offered",
				Message: fmt.Sprintf("%s does not offer %s. Choose another product.", op.Name, c.Product.Label),
				Detail:  fmt.Sprintf("%s is not in scopes_supported %v at %s", sc, m.Scopes, op.Metadata)}
		}
	}
	return nil
}

// splitMCCMNC reads the selection callback's mcc_mnc ("234_99").
func splitMCCMNC(v string) (mcc, mnc string, ok bool) {
	mcc, mnc, ok = strings.Cut(v, "_")
	digits := func(s string, min, max int) bool {
		if len(s) < min || len(s) > max {
			return false
		}
		for _, r := range s {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return mcc, mnc, ok && digits(mcc, 3, 3) && digits(mnc, 2, 3)
}
