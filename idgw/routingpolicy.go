package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// The operator's routing policy: which of its authenticators, in which
// order, may serve an SP. The operator's order (Config.Authenticators)
// is the default; the operator's admin may replace it for every SP (the
// default rule) and for one SP (its rule, by client_id), for instance
// "sim-pin, sim-ok" for a bank that will have the SIM and never an SMS.
// A rule only narrows and orders: the level floors (the SP's and its
// products' min_loa, acr_values) and the subscriber's enrolments still
// decide which of its authenticators can serve a login, and a login that
// none of them can serve is refused with access_denied naming the level.
//
// The rules are the operator's own business, not the federation's: they
// are records of the operator's state store (shared by its gateway
// nodes), never in the registry.

// Kinds of the routing rules in the state store: one record per SP, keyed
// by its client_id, and the operator's default, keyed defaultRuleKey.
const (
	kindRoutingSP      state.Kind = "idgw.routing-sp"
	kindRoutingDefault state.Kind = "idgw.routing-default"
)

var defaultRuleKey = []byte("default")

// ruleLifetime: a rule lives until replaced or deleted.
const ruleLifetime = 100 * 365 * 24 * time.Hour

// RoutingRule is an operator's rule: the authenticators (their names,
// AuthenticatorInfo.Name) that may serve, in the order routing tries
// them. ClientID is empty for the operator's default rule.
type RoutingRule struct {
	ClientID       string    `json:"client_id,omitempty"`
	Authenticators []string  `json:"authenticators"`
	Updated        time.Time `json:"updated_at"`
}

// RoutingAuthenticator is one authenticator the gateway runs, as a rule
// names it.
type RoutingAuthenticator struct {
	Name      string   `json:"name"`
	LoA       int      `json:"loa"`
	AMR       []string `json:"amr"`
	Enrolment string   `json:"enrolment,omitempty"`
}

// RoutingOverview is GET /v1/operator/routing on the admin API.
type RoutingOverview struct {
	Authenticators []RoutingAuthenticator `json:"authenticators"`
	Default        *RoutingRule           `json:"default,omitempty"`
}

// RoutingRulePage is a page of the SPs' rules.
type RoutingRulePage struct {
	Rules []RoutingRule `json:"rules"`
	Next  string        `json:"next,omitempty"`
}

// ErrNoRule: no rule is set (for the SP, or no default).
var ErrNoRule = errors.New("idgw: no routing rule")

// RuleError is a rule that cannot be stored: an authenticator the
// operator does not run, one named twice, or none at all.
type RuleError struct{ Detail string }

func (e *RuleError) Error() string { return e.Detail }

// RoutingRules are the operator's routing rules in its state store.
type RoutingRules struct {
	store  Store
	router *Router
	now    func() time.Time
}

// NewRoutingRules keeps the rules of the operator whose authenticators
// router has in store (the gateway's Config.Store).
func NewRoutingRules(store Store, router *Router) *RoutingRules {
	return &RoutingRules{store: store, router: router, now: time.Now}
}

// Authenticators are the operator's authenticators in its configured
// order: the names a rule may use.
func (r *RoutingRules) Authenticators() []AuthenticatorInfo {
	out := make([]AuthenticatorInfo, 0, len(r.router.auths))
	for _, a := range r.router.auths {
		out = append(out, a.AuthenticatorInfo)
	}
	return out
}

func (r *RoutingRules) where(clientID string) (state.Kind, []byte) {
	if clientID == "" {
		return kindRoutingDefault, defaultRuleKey
	}
	return kindRoutingSP, []byte(clientID)
}

// Put stores rule (for rule.ClientID, or the default when it is empty),
// replacing any, and returns it as stored. A name the operator does not
// run, a name twice or an empty list is a *RuleError.
func (r *RoutingRules) Put(ctx context.Context, rule RoutingRule) (RoutingRule, error) {
	if len(rule.Authenticators) == 0 {
		return RoutingRule{}, &RuleError{"a rule names at least one authenticator; delete the rule to return to the operator's order"}
	}
	for i, name := range rule.Authenticators {
		if _, ok := r.router.byName(name); !ok {
			var known []string
			for _, a := range r.router.auths {
				known = append(known, a.Name)
			}
			return RoutingRule{}, &RuleError{fmt.Sprintf("authenticator %q is not one this operator runs (%q)", name, known)}
		}
		if slices.Contains(rule.Authenticators[:i], name) {
			return RoutingRule{}, &RuleError{fmt.Sprintf("authenticator %q is named twice", name)}
		}
	}
	rule.Updated = r.now().UTC().Truncate(time.Second)
	b, err := json.Marshal(rule)
	if err != nil {
		return RoutingRule{}, err
	}
	kind, key := r.where(rule.ClientID)
	if err := r.store.Put(ctx, kind, key, b, r.now().Add(ruleLifetime)); err != nil {
		return RoutingRule{}, err
	}
	return rule, nil
}

// Get returns the rule of clientID ("" the default), or ErrNoRule.
func (r *RoutingRules) Get(ctx context.Context, clientID string) (RoutingRule, error) {
	kind, key := r.where(clientID)
	rec, err := r.store.Get(ctx, kind, key)
	if errors.Is(err, state.ErrNotFound) {
		return RoutingRule{}, ErrNoRule
	}
	if err != nil {
		return RoutingRule{}, err
	}
	var rule RoutingRule
	if err := json.Unmarshal(rec.Value, &rule); err != nil {
		return RoutingRule{}, fmt.Errorf("idgw: routing rule record: %w", err)
	}
	return rule, nil
}

// Delete removes the rule of clientID ("" the default): ErrNoRule when
// there was none.
func (r *RoutingRules) Delete(ctx context.Context, clientID string) error {
	kind, key := r.where(clientID)
	if _, err := r.store.Take(ctx, kind, key); errors.Is(err, state.ErrNotFound) {
		return ErrNoRule
	} else if err != nil {
		return err
	}
	return nil
}

// List returns the SPs' rules, by client_id, at most limit after the
// client_id after ("" from the first).
func (r *RoutingRules) List(ctx context.Context, after string, limit int) ([]RoutingRule, error) {
	var from []byte
	if after != "" {
		from = []byte(after)
	}
	entries, err := r.store.Scan(ctx, kindRoutingSP, nil, from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]RoutingRule, 0, len(entries))
	for _, e := range entries {
		var rule RoutingRule
		if err := json.Unmarshal(e.Value, &rule); err != nil {
			return nil, fmt.Errorf("idgw: routing rule record: %w", err)
		}
		out = append(out, rule)
	}
	return out, nil
}

// ruleFor is the rule routing applies to clientID's logins: the SP's, else
// the operator's default, else none (nil: the operator's configured
// order). A rule that cannot be read is an error: routing must not fall
// back to authenticators the rule may forbid.
func (r *RoutingRules) ruleFor(ctx context.Context, clientID string) ([]string, error) {
	if clientID != "" {
		rule, err := r.Get(ctx, clientID)
		if err == nil {
			return rule.Authenticators, nil
		}
		if !errors.Is(err, ErrNoRule) {
			return nil, err
		}
	}
	rule, err := r.Get(ctx, "")
	if errors.Is(err, ErrNoRule) {
		return nil, nil
	}
	return rule.Authenticators, err
}

// candidates are the authenticators routing tries for req, in order: the
// Router's candidates for its levels and the subscriber's enrolments,
// under the operator's rule for its SP when there is one (only those it
// names, in its order); without one, seamless first among its level's
// (networkFirst); prompt=no_seam drops seamless. req.OperatorRule says
// whether a rule applied, for the refusal when none is left (noLevel).
func (g *Gateway) candidates(ctx context.Context, req *AuthRequest, enrolments []string) ([]registeredAuthenticator, error) {
	rules := NewRoutingRules(g.cfg.Store, g.cfg.Router)
	order, err := rules.ruleFor(ctx, req.ClientID)
	if err != nil {
		return nil, fmt.Errorf("reading the operator's routing rule: %w", err)
	}
	req.OperatorRule = order
	var cands []registeredAuthenticator
	if order != nil {
		cands = g.cfg.Router.candidatesIn(req.ACR, enrolments, order)
	} else {
		cands = g.cfg.Router.Candidates(req.ACR, enrolments)
	}
	switch {
	case req.Prompt.Has(PromptNoSeam):
		cands = withoutNetworkReaders(cands)
	case order == nil:
		cands = networkFirst(cands, req.ACR)
	}
	return cands, nil
}

// allowsSession says whether a browser session authenticated with amr may
// sign the person in to an SP whose rule gives these candidates without
// a new challenge: only when one of them gives those amr values (a bank
// that will have the SIM is not signed in by an SMS login's session).
// Without a rule, any session at the level may.
func allowsSession(req *AuthRequest, amr []string, cands []registeredAuthenticator) bool {
	if req.OperatorRule == nil {
		return true
	}
	for _, c := range cands {
		if len(amr) > 0 && !slices.ContainsFunc(amr, func(v string) bool { return !slices.Contains(c.AMR, v) }) {
			return true
		}
	}
	return false
}

// RoutingRules are the gateway's operator's routing rules, for its admin
// API.
func (g *Gateway) RoutingRules() *RoutingRules {
	return NewRoutingRules(g.cfg.Store, g.cfg.Router)
}
