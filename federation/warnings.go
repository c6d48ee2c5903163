package federation

import "fmt"

// The settings that leave a node running but useless for part of its job
// are not refused (the node still serves discovery and replicates), but said
// loudly: a WARN at start, and on /readyz for as long as they hold, each
// naming the flag that fixes it.

// warnNoAuthenticator: a gateway that can authenticate nobody.
func (n *Node) warnNoAuthenticator() string {
	return fmt.Sprintf("operator %s's gateway has no authenticator, so every login fails with access_denied: "+
		"give --smsc-addr (with --smsc-system-id and --smsc-password) to enable SMS, or --authenticators-file", n.cfg.OperatorID)
}

// warnUnregistered: a gateway for an operator the registry does not hold.
func (n *Node) warnUnregistered() string {
	return fmt.Sprintf("operator %s is not registered in the federation, so its gateway answers temporarily_unavailable: "+
		"start with --operator-file to register it, or have the federation admin register it (PUT /v1/operators/%s)",
		n.cfg.OperatorID, n.cfg.OperatorID)
}

// warnings are the node's misconfigurations as they stand now, for /readyz.
func (n *Node) warnings() []string {
	if n.cfg.OperatorID == "" {
		return nil
	}
	var w []string
	if n.noAuthenticator.Load() {
		w = append(w, n.warnNoAuthenticator())
	}
	if n.raft.Registry().Operator(n.cfg.OperatorID) == nil {
		w = append(w, n.warnUnregistered())
	}
	return w
}
