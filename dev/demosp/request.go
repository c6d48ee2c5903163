package demosp

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// What the person may ask the operator for, as the SP's page offers it:
// one Mobile Connect product at a time, each a set of scopes (spec §4),
// and where its answers are read.
type product struct {
	ID, Label, Hint string
	Scopes          []string
	Premium         bool // its answers are on premiuminfo, not userinfo
}

var products = []product{
	{ID: "authn", Label: "Authentication only", Hint: "who you are to this shop: a pseudonymous sub, nothing else",
		Scopes: []string{"openid", "mc_authn"}},
	{ID: "profile", Label: "Authentication, profile, e-mail and phone", Hint: "OpenID Connect's standard claims, on userinfo",
		Scopes: []string{"openid", "mc_authn", "profile", "email", "phone"}},
	{ID: "signup", Label: "Identity: Sign-up", Hint: "name, address, e-mail, birth date, on premiuminfo",
		Scopes: []string{"openid", "mc_authn", "mc_identity_signup"}, Premium: true},
	{ID: "phonenumber", Label: "Identity: Phone number", Hint: "the verified number, on premiuminfo",
		Scopes: []string{"openid", "mc_authn", "mc_identity_phonenumber"}, Premium: true},
	{ID: "nationalid", Label: "Identity: National ID", Hint: "the national identifier with name and address, on premiuminfo",
		Scopes: []string{"openid", "mc_authn", "mc_identity_nationalid"}, Premium: true},
	{ID: "kyc", Label: "KYC match", Hint: "the operator says whether what you type below matches what it holds, and tells nothing else",
		Scopes: []string{"openid", "mc_authn", "mc_kyc_plain"}, Premium: true},
	{ID: "authz", Label: "Authorisation", Hint: "approve a transaction on the phone; the binding message shows on both screens",
		Scopes: []string{"openid", "mc_authz"}},
}

const defaultProduct = "profile"

func productByID(id string) (product, bool) {
	i := slices.IndexFunc(products, func(p product) bool { return p.ID == id })
	if i < 0 {
		return product{}, false
	}
	return products[i], true
}

// kycFields are the KYC claims the page offers to match, with the UK demo
// subscriber's values as the default.
var kycFields = []struct{ Claim, Label, Default string }{
	{"given_name", "Given name", "Demo"},
	{"family_name", "Family name", "Subscriber GB"},
	{"birthdate", "Birth date (YYYY-MM-DD)", "1990-01-01"},
	{"postal_code", "Postal code", "SW1A 1AA"},
}

// choices is what the person chose on the SP's page: what to ask and how
// strongly to be authenticated.
type choices struct {
	Product product
	ACR     string            // "2" or "3"
	KYC     map[string]string // KYC claim → value, for product kyc
	Context string            // what is authorised, for product authz
	Binding string            // the binding message, for product authz
}

// Limits of the authorisation texts (the gateway's, idgw/authrequest.go).
const (
	maxContextRunes = 256
	maxBindingRunes = 128
)

// defaultChoices are the page's defaults, and a bare POST's (a script
// sending only msisdn).
func defaultChoices() choices {
	p, _ := productByID(defaultProduct)
	c := choices{Product: p, ACR: "2", KYC: map[string]string{},
		Context: "Pay £12.50 to Demo Shop", Binding: "DEMO A47"}
	for _, f := range kycFields {
		c.KYC[f.Claim] = f.Default
	}
	return c
}

// readChoices reads the page's form. A problem is the person's to fix
// (shown on the page, 400).
func readChoices(form url.Values) (choices, string) {
	c := defaultChoices()
	if id := form.Get("product"); id != "" {
		p, ok := productByID(id)
		if !ok {
			return c, "Choose one of the products listed."
		}
		c.Product = p
	}
	switch acr := form.Get("acr"); acr {
	case "":
	case "2", "3":
		c.ACR = acr
	default:
		return c, "Choose level of assurance 2 or 3."
	}
	for _, f := range kycFields {
		if v, ok := form["kyc_"+f.Claim]; ok {
			c.KYC[f.Claim] = strings.TrimSpace(v[0])
		}
	}
	if v, ok := form["context"]; ok {
		c.Context = strings.TrimSpace(v[0])
	}
	if v, ok := form["binding_message"]; ok {
		c.Binding = strings.TrimSpace(v[0])
	}
	switch c.Product.ID {
	case "kyc":
		empty := true
		for _, v := range c.KYC {
			empty = empty && v == ""
		}
		if empty {
			return c, "Type at least one value for the KYC match."
		}
	case "authz":
		if c.Context == "" || utf8.RuneCountInString(c.Context) > maxContextRunes ||
			utf8.RuneCountInString(c.Binding) > maxBindingRunes {
			return c, "Say what is authorised (at most 256 characters), with a binding message of at most 128."
		}
	}
	return c, ""
}

// scope is the authorize request's scope.
func (c choices) scope() string { return strings.Join(c.Product.Scopes, " ") }

// authorizeParams are the product's own authorize parameters: the KYC
// values in the claims parameter's premiuminfo section, the authorisation's
// context and binding message.
func (c choices) authorizeParams(q url.Values) {
	switch c.Product.ID {
	case "kyc":
		section := map[string]map[string]string{}
		for claim, v := range c.KYC {
			if v != "" {
				section[claim] = map[string]string{"value": v}
			}
		}
		b, _ := json.Marshal(map[string]any{"premiuminfo": section})
		q.Set("claims", string(b))
	case "authz":
		q.Set("context", c.Context)
		if c.Binding != "" {
			q.Set("binding_message", c.Binding)
		}
	}
}
