package federation

import (
	"context"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// portDeadlineTick is how often the leader looks for port requests whose
// deadline has passed, and for proposals whose expiry has. The registry
// refuses the deadline's (or the expiry's) command before the leader's
// clock (in the command's header) reaches it, so a tick late or early
// never decides a request too soon.
const portDeadlineTick = time.Second

// portDeadlineLoop runs on every node and acts while it leads: each
// pending port request whose deadline passed by now() is decided by the
// node's own credential, as the federation's porting rules say (the
// numbers port, or the request expires); and each pending proposal past
// its expiry is expired.
func (n *Node) portDeadlineLoop(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(portDeadlineTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.raft.IsLeader() {
			continue
		}
		for _, req := range n.raft.Registry().DuePortRequests(now().UnixMilli()) {
			cmd := registry.MustEncode(registry.CmdDecidePortRequest, registry.PortDecision{ID: req.ID, Decision: registry.DecideDeadline})
			if _, err := n.raft.Apply(ctx, n.raft.Self(), cmd); err != nil && ctx.Err() == nil {
				n.log.Warn("port request deadline", "request", req.ID, "err", err)
			}
		}
		// Proposals of federation-admin acts expire the same way
		// (registry/approvals.go).
		for _, p := range n.raft.Registry().DueProposals(now().UnixMilli()) {
			cmd := registry.MustEncode(registry.CmdDecideProposal, registry.ProposalDecision{ID: p.ID, Decision: registry.DecideExpire})
			if _, err := n.raft.Apply(ctx, n.raft.Self(), cmd); err != nil && ctx.Err() == nil {
				n.log.Warn("proposal expiry", "proposal", p.ID, "err", err)
			}
		}
	}
}
