package registry

import (
	"slices"
)

// SPPolicy is one operator's decision about one SP. An SP registers once
// with the federation and every operator it names accepts it with no step of
// its own; an operator that wants otherwise declines the SP outright or
// narrows the scopes it may ask that operator for. The policy is the
// operator's, so it lives in its own row rather than in the SP's record,
// which the SP's registrar rewrites.
type SPPolicy struct {
	// ID is the row's key, "<operator>/<client_id>", set when applied.
	ID       string `json:"-"`
	Operator string `json:"operator"`
	ClientID string `json:"client_id"`
	// Declined: discovery does not route the SP to this operator and the
	// operator's gateway refuses it.
	Declined bool `json:"declined,omitempty"`
	// Scopes, when not empty, limits the SP at this operator to these of
	// its scopes. Scopes the SP is not registered for are never added.
	Scopes []string `json:"scopes,omitempty"`
	Meta
}

// policyKey is the table key of a policy: one row per (operator, SP).
func policyKey(operator, clientID string) string { return operator + "/" + clientID }

func (p *SPPolicy) key() string { return p.ID }

// Validate checks the fields a caller supplies; the operator, the SP and
// the scopes are checked against the registry when the command is applied.
func (p *SPPolicy) Validate() error {
	if err := checkID("operator", p.Operator); err != nil {
		return err
	}
	if !clientIDPattern.MatchString(p.ClientID) {
		return invalidf("client_id %q is not a valid client id", p.ClientID)
	}
	if p.Declined && len(p.Scopes) > 0 {
		return invalidf("a declined SP gets no scopes: give declined or scopes, not both")
	}
	if !p.Declined && len(p.Scopes) == 0 {
		return invalidf("a policy declines the SP or limits its scopes; to accept it as registered, delete the policy")
	}
	return nil
}

// PolicyKey is the body of CmdDeleteSPPolicy.
type PolicyKey struct {
	Operator string `json:"operator"`
	ClientID string `json:"client_id"`
}

func applyPutSPPolicy(tx *writeTxn, body []byte) error {
	var p SPPolicy
	if err := decodeJSON(body, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if get[Operator](tx.Txn, tableOperators, p.Operator) == nil {
		return notFoundf("operator %q does not exist", p.Operator)
	}
	if get[ServiceProvider](tx.Txn, tableSPs, p.ClientID) == nil {
		return notFoundf("service provider %q does not exist", p.ClientID)
	}
	for _, s := range p.Scopes {
		if get[Scope](tx.Txn, tableScopes, s) == nil {
			return notFoundf("scope %q is not in the catalogue", s)
		}
	}
	p.ID = policyKey(p.Operator, p.ClientID)
	return put(tx, tableSPPolicies, get[SPPolicy](tx.Txn, tableSPPolicies, p.ID), &p)
}

func applyDeleteSPPolicy(tx *writeTxn, body []byte) error {
	var k PolicyKey
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	p := get[SPPolicy](tx.Txn, tableSPPolicies, policyKey(k.Operator, k.ClientID))
	if p == nil {
		return notFoundf("operator %q has no policy for service provider %q", k.Operator, k.ClientID)
	}
	return tx.Delete(tableSPPolicies, p)
}

// SPPolicy returns operator's policy for the SP, or nil when it has none.
func (r *Registry) SPPolicy(operator, clientID string) *SPPolicy {
	return get[SPPolicy](r.db.Txn(false), tableSPPolicies, policyKey(operator, clientID))
}

// SPPolicies lists operator's policies in client id order, a page at a time.
func (r *Registry) SPPolicies(operator, after string, limit int) Page[SPPolicy] {
	prefix := operator + "/"
	return list(r.db, tableSPPolicies, (*SPPolicy).key, prefix+after, limit, func(p *SPPolicy) bool {
		return p.Operator == operator
	})
}

// ServiceProviderAt returns the SP as operator sees it: nil when the SP is
// unknown, not accepted by the operator or declined by it; otherwise a copy
// whose Scopes are narrowed by the operator's policy. Gateways and
// discovery read SPs through it so a policy takes effect everywhere at once.
func (r *Registry) ServiceProviderAt(operator, clientID string) *ServiceProvider {
	txn := r.db.Txn(false)
	sp := withStanding(txn, get[ServiceProvider](txn, tableSPs, clientID))
	if sp == nil || !sp.Accepts(operator) {
		return nil
	}
	p := get[SPPolicy](txn, tableSPPolicies, policyKey(operator, clientID))
	switch {
	case p == nil:
		return sp
	case p.Declined:
		return nil
	}
	narrowed := *sp
	narrowed.Scopes = slices.DeleteFunc(slices.Clone(sp.Scopes), func(s string) bool {
		return !slices.Contains(p.Scopes, s)
	})
	return &narrowed
}

// AcceptedBy reports whether operator accepts the SP: the SP names it (or
// every member) and the operator has not declined it.
func (r *Registry) AcceptedBy(operator string, sp *ServiceProvider) bool {
	if !sp.Accepts(operator) {
		return false
	}
	p := r.SPPolicy(operator, sp.ClientID)
	return p == nil || !p.Declined
}
