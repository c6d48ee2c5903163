package federation

import (
	"github.com/mcfed/mcfed/registry"
)

// AcceptedBy tells discovery whether an operator accepts an SP, counting
// the operator's own policy (registry.SPPolicy) as well as the SP's list.
func (l liveRegistry) AcceptedBy(operator string, sp *registry.ServiceProvider) bool {
	return l.node.Registry().AcceptedBy(operator, sp)
}

// AppliedIndex is the replica's applied index: discovery keeps what it read
// of an SP while it stays the same. A restore swaps in a registry at the
// snapshot's index, a state the cluster reached at that index.
func (l liveRegistry) AppliedIndex() uint64 { return l.node.Registry().AppliedIndex() }

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
