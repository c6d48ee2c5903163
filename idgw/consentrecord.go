package idgw

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Consent records: what a subscriber let each SP have, kept in the
// operator's state store per subscriber and SP (kind idgw.consent-record,
// key "<msisdn>|<client_id>"), one entry per scope: when it was last
// granted, by which authentication (acr, amr), and whether the person saw
// the consent page for it. Every login that ends with a code writes it
// (issueCode), so the record lists every SP the person signed in to, with
// what it was given. The record, not a browser, is what the consent step
// and single sign-on consult: a person who allowed an SP its scopes is not
// asked again in another browser, and a withdrawn record stops the SP's
// single sign-on, its tokens and its sessions (WithdrawConsent).
//
// A record lives consentRetention after its last use: consent is shown
// for as long as the SP uses it, and an SP unused for that long asks
// again. It is bound to the number's holder at the login, so a recycled
// number does not inherit its predecessor's consents.

// consentRetention is how long a consent record outlives its last use: 400
// days, the federation's default audit retention, so a yearly service
// (a tax return, an annual renewal) finds its consent in place, while one
// the person stopped using for over a year asks again rather than relying
// on a decision they may have forgotten.
const consentRetention = 400 * 24 * time.Hour

// consentRecordKind is the table of consent records.
const consentRecordKind state.Kind = "idgw.consent-record"

// consentEntry is the stored form of one subscriber's consent to one SP.
type consentEntry struct {
	ClientID string `json:"c"`
	// SP is the SP's name when the record was last written, for a page
	// that lists an SP no longer registered.
	SP     string             `json:"n"`
	Holder []byte             `json:"h"`
	Scopes []scopeGrantRecord `json:"s"`
	// Claims are the claim names the claims parameter asked for, if any.
	Claims []string  `json:"l,omitempty"`
	First  time.Time `json:"f"`
	Last   time.Time `json:"u"`
}

type scopeGrantRecord struct {
	Scope string    `json:"s"`
	At    time.Time `json:"t"`
	ACR   int       `json:"a"`
	AMR   []string  `json:"x,omitempty"`
	// Shown: the person allowed it on the consent page, not only by
	// signing in (a headless SDK's login, a scope that releases nothing).
	Shown bool `json:"w,omitempty"`
}

// Consent is one subscriber's consent record for one SP, as the
// connected-services page and the operator's admin API show it.
type Consent struct {
	ClientID string `json:"client_id"`
	// SPName is the SP's registered name when the consent was last used.
	SPName string         `json:"sp_name"`
	Scopes []ScopeConsent `json:"scopes"`
	// Claims are the individual claims the SP asked for, if it named any.
	Claims       []string  `json:"claims,omitempty"`
	FirstGranted time.Time `json:"first_granted"`
	LastUsed     time.Time `json:"last_used"`
	Expires      time.Time `json:"expires"`
}

// ScopeConsent is when and how one scope was granted.
type ScopeConsent struct {
	Scope     string    `json:"scope"`
	GrantedAt time.Time `json:"granted_at"`
	ACR       string    `json:"acr"`
	AMR       []string  `json:"amr,omitempty"`
	// OnConsentPage: the person allowed it on the consent page.
	OnConsentPage bool `json:"on_consent_page"`
}

// ErrNoConsent is WithdrawConsent's answer when the subscriber has no
// consent record for the SP.
var ErrNoConsent = errors.New("idgw: no consent of this subscriber for this SP")

func consentKey(msisdn uint64, clientID string) []byte {
	return []byte(strconv.FormatUint(msisdn, 10) + "|" + clientID)
}

func consentPrefix(msisdn uint64) []byte {
	return []byte(strconv.FormatUint(msisdn, 10) + "|")
}

// consentOf returns the live consent record of msisdn's current holder
// (holder) for clientID, or nil. A read that fails is logged and answered
// as no consent: the person is asked again, which is safe.
func (g *Gateway) consentOf(ctx context.Context, msisdn uint64, holder storeKey, clientID string) *consentEntry {
	r, err := g.cfg.Store.Get(ctx, consentRecordKind, consentKey(msisdn, clientID))
	if err != nil {
		if !errors.Is(err, state.ErrNotFound) {
			g.log.Error("state store: reading a consent record failed", "error", err)
		}
		return nil
	}
	var c consentEntry
	if err := json.Unmarshal(r.Value, &c); err != nil {
		g.log.Error("state store: a consent record does not decode", "error", err)
		return nil
	}
	if subtle.ConstantTimeCompare(c.Holder, holder[:]) != 1 {
		return nil // the number's previous holder's
	}
	return &c
}

// covers reports whether the record grants every one of scopes; shown
// asks that each was allowed on the consent page.
func (c *consentEntry) covers(scopes []string, shown bool) bool {
	if c == nil {
		return false
	}
	for _, s := range scopes {
		i := slices.IndexFunc(c.Scopes, func(g scopeGrantRecord) bool { return g.Scope == s })
		if i < 0 || shown && !c.Scopes[i].Shown {
			return false
		}
	}
	return true
}

// recordConsent writes what gr's login gave its SP into the subscriber's
// record: each scope granted now, by gr's authentication, shown when the
// person allowed it on the consent page. A record of the number's
// previous holder is replaced. A failure is logged: the login goes on,
// and the next one asks again.
func (g *Gateway) recordConsent(ctx context.Context, gr *grant, shown bool) {
	now := g.now()
	_, err := g.cfg.Store.Update(ctx, consentRecordKind, consentKey(gr.msisdn, gr.req.ClientID),
		func(old state.Record, found bool) (state.Record, error) {
			var c consentEntry
			if found {
				if err := json.Unmarshal(old.Value, &c); err != nil || subtle.ConstantTimeCompare(c.Holder, gr.subject.holder[:]) != 1 {
					c = consentEntry{}
				}
			}
			if c.First.IsZero() {
				c.First = now
			}
			c.ClientID, c.Holder, c.Last = gr.req.ClientID, gr.subject.holder[:], now
			if gr.req.Client != nil {
				c.SP = gr.req.Client.Name
			}
			for _, s := range gr.req.Scopes {
				i := slices.IndexFunc(c.Scopes, func(g scopeGrantRecord) bool { return g.Scope == s })
				if i < 0 {
					c.Scopes = append(c.Scopes, scopeGrantRecord{Scope: s})
					i = len(c.Scopes) - 1
				}
				sg := &c.Scopes[i]
				if sg.At.IsZero() || shown || !sg.Shown {
					sg.At, sg.ACR, sg.AMR = now, gr.acr, gr.amr
				}
				sg.Shown = sg.Shown || shown && slices.Contains(consentScopes(gr.req.Scopes), s)
			}
			for _, sec := range gr.req.Claims {
				for name := range sec {
					if !slices.Contains(c.Claims, name) {
						c.Claims = append(c.Claims, name)
					}
				}
			}
			slices.Sort(c.Claims)
			b, err := json.Marshal(c)
			if err != nil {
				return state.Record{}, err
			}
			return state.Record{Value: b, Expires: now.Add(consentRetention)}, nil
		})
	if err != nil {
		g.log.Error("state store: recording a consent failed", "client_id", gr.req.ClientID, "error", err)
	}
}

// Consents lists the consent records of subscriber msisdn's current
// holder (holder, from the subscriber's PCR secret), in client id order.
func (g *Gateway) Consents(ctx context.Context, msisdn uint64) ([]Consent, error) {
	holder, err := g.holderOf(ctx, msisdn)
	if err != nil {
		return nil, err
	}
	var out []Consent
	var after []byte
	for {
		es, err := g.cfg.Store.Scan(ctx, consentRecordKind, consentPrefix(msisdn), after, 100)
		if err != nil {
			return nil, fmt.Errorf("listing consents: %w", err)
		}
		for _, e := range es {
			var c consentEntry
			if json.Unmarshal(e.Value, &c) != nil || subtle.ConstantTimeCompare(c.Holder, holder[:]) != 1 {
				continue
			}
			out = append(out, c.public(e.Expires))
		}
		if len(es) < 100 {
			return out, nil
		}
		after = es[len(es)-1].Key
	}
}

func (c *consentEntry) public(expires time.Time) Consent {
	out := Consent{ClientID: c.ClientID, SPName: c.SP, Claims: c.Claims, FirstGranted: c.First, LastUsed: c.Last, Expires: expires}
	for _, s := range c.Scopes {
		out.Scopes = append(out.Scopes, ScopeConsent{Scope: s.Scope, GrantedAt: s.At, ACR: strconv.Itoa(s.ACR), AMR: s.AMR, OnConsentPage: s.Shown})
	}
	return out
}

// holderOf is the holder digest of msisdn's current subscriber, or
// ErrUnknownSubscriber.
func (g *Gateway) holderOf(ctx context.Context, msisdn uint64) (storeKey, error) {
	secret, err := g.cfg.Subscribers.PCRSecret(ctx, msisdn)
	if err != nil {
		return storeKey{}, err
	}
	return holderTag(secret), nil
}

// WithdrawConsent removes subscriber msisdn's consent to clientID and
// ends everything it let the SP hold: every token family the subscriber's
// logins at the SP started (refresh invalid_grant, introspection inactive,
// userinfo 401), the SP's single sign-on in any browser (sessionVerdict
// reads the record), and, when the SP registered a back-channel logout
// URI, its sessions through a logout token per session (backchannel.go).
// ErrNoConsent when there is no record to withdraw; the families are ended
// all the same.
func (g *Gateway) WithdrawConsent(ctx context.Context, msisdn uint64, clientID string) error {
	_, err := g.cfg.Store.Take(ctx, consentRecordKind, consentKey(msisdn, clientID))
	found := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("withdrawing a consent: %w", err)
	}
	sids, err := g.endFamiliesAt(ctx, msisdn, clientID, nil)
	if err != nil {
		return err
	}
	if found || len(sids) > 0 {
		g.notifyLogout(ctx, msisdn, clientID, sids)
		g.log.Info("consent withdrawn: the SP's tokens and sessions of the subscriber are ended", "client_id", clientID, "families", len(sids))
	}
	if !found {
		return ErrNoConsent
	}
	return nil
}
