package federation

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/datagateway"
)

// mountGateway mounts the Identity Gateway of the operator this node serves
// on the public app, with the node's signing keys (made on first start) and
// its sealing key for login hints.
func (n *Node) mountGateway(app *fiber.App) error {
	ring := n.keys
	regs, err := n.authenticators()
	if err != nil {
		return err
	}
	if len(regs) == 0 {
		n.noAuthenticator.Store(true)
		n.log.Warn(n.warnNoAuthenticator())
	}
	regs = observeAuthenticators(regs, n.metrics)
	router, err := idgw.NewRouter(regs...)
	if err != nil {
		return err
	}
	addresses, err := n.addressResolver()
	if err != nil {
		return err
	}
	g, err := idgw.New(idgw.Config{
		OperatorID: n.cfg.OperatorID, Issuer: n.PublicURL(), Registry: operatorView{liveRegistry{n.raft}, n.cfg.OperatorID},
		Keys: ring, LoginHints: n.sealing, Subscribers: subscriberView{n.subs, n.enrolments}, Router: router, Store: n.state,
		// PCR login hints resolve through an index kept in the same store.
		PCRIndex: subscriberView{n.subs, n.enrolments}, Log: n.log,
		// The node's metrics count each OAuth answer by endpoint and code.
		Observer: n.metrics,
		// Abuse budgets for what reaches a handset, shared through the
		// operator's state store.
		SendBudgets: n.cfg.SendBudgets,
		// CAMARA login_hint=ipport: maps to a line through the operator's
		// network (nil: refused).
		Addresses: addresses,
		// userinfo and premiuminfo read the operator's own store.
		Claims: datagateway.New(datagateway.NewStoreSource(n.subs)),
	})
	if err != nil {
		return err
	}
	go sweepState(n.ctx, n.state, time.Minute, n.log)
	// Back-channel logout tokens wait in the state store; every node of
	// the operator delivers them.
	go g.DeliverLogouts(n.ctx)
	n.gateway.Store(g)
	// Server-initiated logins (SI, CIBA): advanced and delivered by every
	// node, one node per login at a time.
	go g.RunBackchannel(n.ctx, time.Second)
	return g.Mount(app)
}
