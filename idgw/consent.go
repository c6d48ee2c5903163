package idgw

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/url"
	"slices"
)

// Consent: before the SP receives anything about the person beyond the
// fact of the sign-in (a profile, an email address, a phone number, an
// address, a date of birth, an identity product's details), the person's
// browser shows what the SP will receive, in words, with Allow and Deny.
// Deny answers the SP access_denied. An Allow is remembered in the
// subscriber's consent record, per SP and per scope (consentrecord.go):
// the same SP asking for the same scopes again needs no page, in any
// browser, until the person withdraws it; prompt=consent asks again. Only a person's browser is asked (a
// navigation, browserCookies.navigate): a headless SDK cannot show a page,
// and its person approved on the phone.

// silentScopes need no consent: they release nothing but the sign-in
// itself (an authorisation's binding message is approved on the phone).
var silentScopes = []string{scopeOpenID, scopeAuthn, scopeAuthz}

// consentScopes are the scopes of scopes that release data.
func consentScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if !slices.Contains(silentScopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// pendingConsent is a login that succeeded and waits for the person's
// consent before the SP gets its code.
type pendingConsent struct {
	grant *grant
	// binding is the login's binding digest: only the browser that started
	// the login gets a session when it allows.
	binding [sha256.Size]byte
	page    pageContext
}

// needsConsent reports whether gr's request must ask the person first: it
// asks for data, and the subscriber's consent record does not hold the
// person's consent on the consent page to all of it for this SP, or
// prompt=consent.
func (g *Gateway) needsConsent(ctx context.Context, gr *grant) bool {
	scopes := consentScopes(gr.req.Scopes)
	if len(scopes) == 0 {
		return false
	}
	if gr.req.Prompt.Has(PromptConsent) {
		return true
	}
	return !g.consentOf(ctx, gr.msisdn, gr.subject.holder, gr.req.ClientID).covers(scopes, true)
}

// askConsent keeps gr until the person decides and sends the browser to
// the consent page.
func (g *Gateway) askConsent(ctx context.Context, gr *grant, binding [sha256.Size]byte, page pageContext) authorizeAnswer {
	id := newSecret()
	if err := g.consents.put(ctx, tokenKey(id), &pendingConsent{grant: gr, binding: binding, page: page}, sessionTTL); err != nil {
		return failed(gr.req.Fail(ErrServerError(fmt.Errorf("storing a login waiting for consent: %w", err))))
	}
	return authorizeAnswer{redirect: g.consentURL(id)}
}

func (g *Gateway) consentURL(id string) string {
	return g.paths.consent + "?c=" + url.QueryEscape(id)
}

// pendingConsentOf is the login waiting for consent id, or nil.
func (g *Gateway) pendingConsentOf(ctx context.Context, id string) *pendingConsent {
	if len(id) != sessionIDLen {
		return nil
	}
	p, _ := g.consents.get(ctx, tokenKey(id))
	return p
}

// decideConsent ends the login waiting for consent id with the person's
// answer: the code (and, for the browser that started the login, a session
// remembering the consent) or access_denied. Each consent is answered once.
func (g *Gateway) decideConsent(ctx context.Context, id string, allow bool, browser browserCookies) authorizeAnswer {
	var p *pendingConsent
	if len(id) == sessionIDLen {
		p, _ = g.consents.take(ctx, tokenKey(id))
	}
	if p == nil {
		return failed(ErrInvalidRequest("the sign-in session has expired or is unknown").WithoutRedirect())
	}
	if !allow {
		g.log.Info("authorize: the subscriber denied consent", "client_id", p.grant.req.ClientID,
			"correlation_id", p.grant.req.CorrelationID)
		return failed(p.grant.req.Fail(ErrAccessDenied("the subscriber denied consent")))
	}
	var session *browserCookies
	if loginBoundTo(browser.binding, p.binding) {
		session = &browser
	}
	return g.issueCode(ctx, p.grant, session, true)
}

// consentItems are the lines of the consent page: what the scopes release,
// in words, each once.
func (g *Gateway) consentItems(scopes []string, t Texts, page pageContext) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, sc := range consentScopes(scopes) {
		if p, ok := purposeOf(sc); ok {
			add(t.S("claim_purpose", p))
			continue
		}
		keys, known := scopeItems[sc]
		if !known {
			add(t.S("claim_other", sc))
			continue
		}
		for _, k := range keys {
			switch k {
			case "claim_kyc":
				add(t.S(k, page.look.Name))
			default:
				add(t.S(k))
			}
		}
	}
	return out
}

// scopeItems are, per scope, the catalogue keys of what it releases (as
// operator/datagateway releases it on userinfo and premiuminfo).
var scopeItems = map[string][]string{
	"profile":                 {"claim_name", "claim_birthdate"},
	"email":                   {"claim_email"},
	"phone":                   {"claim_phone"},
	"address":                 {"claim_address"},
	"mc_identity_phonenumber": {"claim_phone"},
	"mc_phonenumber":          {"claim_phone"},
	"mc_identity_signup":      signupItems,
	"mc_identity_signupplus":  signupItems,
	"mc_signup":               signupItems,
	"mc_identity_nationalid":  {"claim_national_id", "claim_title", "claim_name", "claim_address"},
	"mc_nationalid":           {"claim_national_id", "claim_title", "claim_name", "claim_address"},
	"mc_atp":                  {"claim_sim"},
	"mc_kyc_plain":            {"claim_kyc", "claim_sim"},
	"mc_kyc_hashed":           {"claim_kyc", "claim_sim"},
}

var signupItems = []string{"claim_title", "claim_name", "claim_address", "claim_email", "claim_phone", "claim_birthdate"}
