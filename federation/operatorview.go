package federation

import (
	"github.com/mcfed/mcfed/registry"
)

// AcceptedBy tells discovery whether an operator accepts an SP, counting
// the operator's own policy (registry.SPPolicy) as well as the SP's list.
func (l liveRegistry) AcceptedBy(operator string, sp *registry.ServiceProvider) bool {
	return l.node.Registry().AcceptedBy(operator, sp)
}

// operatorView is the gateway's view of the registry: the live replica,
// with SPs as this operator sees them. An SP the operator declined is
// unknown to its gateway (invalid_client / unauthorized_client), and a
// limited SP's scopes are narrowed before the gateway checks a request's.
type operatorView struct {
	liveRegistry
	operator string
}

func (v operatorView) ServiceProvider(clientID string) *registry.ServiceProvider {
	return v.node.Registry().ServiceProviderAt(v.operator, clientID)
}
