package federation

import (
	"context"
	"errors"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// seedCatalogue writes the Mobile Connect standard catalogue
// (registry.StandardCatalogue and StandardAPIs) once, when the federation's first node
// finds the registry's catalogue empty, so that a new federation's SPs can
// be registered with openid and the products at once. A catalogue that
// holds any scope is left as it is: the seed never overwrites what the
// federation admin wrote, changed or deleted, however often the first node
// restarts.
//
// The writes are authored by the first node's admin token, the federation
// admin's credential registered just before: the catalogue is the
// federation admin's, and its writes keep the one rule that says so, with
// the audit log naming the credential that wrote them. Letting a node
// credential write an empty catalogue would have given every operator's
// node the federation's catalogue whenever an admin emptied it.
//
// The decision is taken once: the writes are puts of fixed rows, so a try
// interrupted by an election is repeated whole. A node stopped half-way
// leaves the catalogue half-seeded; the federation admin completes it.
func (n *Node) seedCatalogue(ctx context.Context) {
	// A restarted node's replica may not have replayed the log yet: read
	// what the federation has committed, not what this replica holds.
	empty := false
	n.untilDone(ctx, func(ctx context.Context) error {
		if err := n.raft.ReadIndex(ctx); err != nil {
			return err
		}
		empty = len(n.raft.Registry().Scopes("", 1).Items) == 0
		return nil
	})
	if !empty {
		return
	}
	author := raft.Presented{Credential: registry.AdminCredentialID(n.cfg.NodeID), Secret: n.cfg.AdminToken}
	scopes, products := registry.StandardCatalogue()
	n.untilDone(ctx, func(ctx context.Context) error {
		err := n.writeCatalogue(ctx, author, scopes, products, registry.StandardAPIs())
		if errors.Is(err, raft.ErrUnauthenticated) {
			// The admin token was revoked before the seed ran: final.
			n.log.Error("the standard catalogue is not seeded: the first node's admin token is not valid", "err", err)
			return nil
		}
		return err
	})
}

func (n *Node) writeCatalogue(ctx context.Context, author raft.Presented, scopes []registry.Scope, products []registry.Product, apis []registry.API) error {
	for _, s := range scopes {
		if _, err := n.raft.Apply(ctx, author, registry.MustEncode(registry.CmdPutScope, s)); err != nil {
			return err
		}
	}
	for _, p := range products {
		if _, err := n.raft.Apply(ctx, author, registry.MustEncode(registry.CmdPutProduct, p)); err != nil {
			return err
		}
	}
	for _, a := range apis {
		if _, err := n.raft.Apply(ctx, author, registry.MustEncode(registry.CmdPutAPI, a)); err != nil {
			return err
		}
	}
	n.log.Info("the Mobile Connect standard catalogue is seeded", "scopes", len(scopes), "products", len(products), "apis", len(apis))
	return nil
}
