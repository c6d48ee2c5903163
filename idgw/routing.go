package idgw

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// registeredAuthenticator is an authenticator with what routing knows of it.
type registeredAuthenticator struct {
	AuthenticatorInfo
	impl Authenticator
}

// Router picks authenticators for a request: by the Level of Assurance the
// SP asks for (acr_values, a preference list), the subscriber's enrolments
// and the operator's order of preference, and gives the fallbacks in order.
type Router struct {
	auths []registeredAuthenticator // in the operator's order of preference
}

// Registration is one authenticator the operator offers.
type Registration struct {
	Info AuthenticatorInfo
	Impl Authenticator
}

// NewRouter takes authenticators in the operator's order of preference.
func NewRouter(auths ...Registration) (*Router, error) {
	r := &Router{}
	seen := map[string]bool{}
	for _, a := range auths {
		if a.Info.Name == "" || seen[a.Info.Name] {
			return nil, fmt.Errorf("idgw: authenticator name %q is empty or repeated", a.Info.Name)
		}
		if a.Info.LoA < 2 || a.Info.LoA > 4 {
			return nil, fmt.Errorf("idgw: authenticator %s has LoA %d; use 2, 3 or 4", a.Info.Name, a.Info.LoA)
		}
		if a.Impl == nil {
			return nil, fmt.Errorf("idgw: authenticator %s has no implementation", a.Info.Name)
		}
		seen[a.Info.Name] = true
		r.auths = append(r.auths, registeredAuthenticator{a.Info, a.Impl})
	}
	return r, nil
}

// Candidates returns, in order, the authenticators to try for a subscriber
// with enrolments when the SP asked for acr (its acr_values in preference
// order, e.g. [3 2]): first those that reach the first level, then those
// that reach the next, each group in the operator's order. An authenticator
// appears once, at its first fit. Nothing fits: the request cannot be met
// (access_denied).
func (r *Router) Candidates(acr []int, enrolments []string) []registeredAuthenticator {
	return candidatesOf(r.auths, acr, enrolments)
}

// candidatesIn is Candidates among the authenticators order names, in its
// order (an operator's routing rule); a name it does not run is skipped.
func (r *Router) candidatesIn(acr []int, enrolments []string, order []string) []registeredAuthenticator {
	var auths []registeredAuthenticator
	for _, name := range order {
		if a, ok := r.byName(name); ok {
			auths = append(auths, a)
		}
	}
	return candidatesOf(auths, acr, enrolments)
}

func candidatesOf(auths []registeredAuthenticator, acr []int, enrolments []string) []registeredAuthenticator {
	var out []registeredAuthenticator
	for _, level := range acr {
		for _, a := range auths {
			if a.LoA < level || (a.Enrolment != "" && !slices.Contains(enrolments, a.Enrolment)) {
				continue
			}
			if slices.ContainsFunc(out, func(b registeredAuthenticator) bool { return b.Name == a.Name }) {
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// byName returns the authenticator registered as name: a stored session
// names its authenticators, and the node that reads it finds them here.
func (r *Router) byName(name string) (registeredAuthenticator, bool) {
	for _, a := range r.auths {
		if a.Name == name {
			return a, true
		}
	}
	return registeredAuthenticator{}, false
}

// Levels are the Levels of Assurance the operator's authenticators reach,
// lowest first, as acr values ("2", "3"): what the metadata may promise.
func (r *Router) Levels() []string {
	var out []string
	for _, a := range r.auths {
		if v := strconv.Itoa(a.LoA); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out) // single digits: sorted as numbers
	return out
}

// AMRValues are the amr values a success of the operator's authenticators
// can give, in the operator's order, each once.
func (r *Router) AMRValues() []string {
	var out []string
	for _, a := range r.auths {
		for _, v := range a.AMR {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// applyLevelFloor holds req to its SP's level floor (its own min_loa and
// its products'): the levels of acr_values below it are dropped, and a
// request that asked only for lower ones asks for the floor. Routing then
// offers only authenticators that reach it.
func (g *Gateway) applyLevelFloor(req *AuthRequest) {
	if req.Client == nil {
		return
	}
	floor := req.Client.LevelFloor(req.Scopes, g.cfg.Registry.Product)
	if floor == 0 {
		return
	}
	req.LevelFloor = floor
	var acr []int
	for _, l := range req.ACR {
		if l >= floor {
			acr = append(acr, l)
		}
	}
	if len(acr) == 0 {
		acr = []int{floor}
	}
	req.ACR = acr
}

// noLevel is the access_denied a request gets when none of the
// subscriber's authenticators reaches the level it must: which level, and
// why when the SP's policy or the operator's routing rule set it.
func noLevel(req *AuthRequest) *OAuthError {
	level := req.ACR[len(req.ACR)-1]
	if req.OperatorRule != nil {
		return ErrAccessDenied(fmt.Sprintf("none of the authenticators the operator allows for this SP (%s) reaches level of assurance %d for this subscriber",
			strings.Join(req.OperatorRule, ", "), level))
	}
	if req.LevelFloor > 0 && level == req.LevelFloor {
		return ErrAccessDenied(fmt.Sprintf("no authenticator of the subscriber reaches level of assurance %d, which this SP's policy requires", level))
	}
	return ErrAccessDenied(fmt.Sprintf("no authenticator of the subscriber reaches the requested level of assurance (at least %d)", level))
}
