package federation

import (
	"context"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// portDeadlineTick is how often the leader looks for port requests whose
// deadline has passed. The registry refuses the deadline's command before
// the leader's clock (in the command's header) reaches it, so a tick late
// or early never decides a request too soon.
const portDeadlineTick = time.Second

// portDeadlineLoop runs on every node and acts while it leads: each
// pending port request whose deadline passed by now() is decided by the
// node's own credential, as the federation's porting rules say (the
// numbers port, or the request expires).
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
	}
}
