package federation

import (
	"context"
	"errors"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/subscribers"
)

// gatewayConsents is the provisioning API's ledger of consents: the
// operator's gateway on this node, once the public listener mounted it.
// The admin API starts first, so it reads the gateway at each call.
type gatewayConsents struct{ n *Node }

func (v gatewayConsents) gateway() (*idgw.Gateway, error) {
	if g := v.n.gateway.Load(); g != nil {
		return g, nil
	}
	return nil, subscribers.ErrNoLedger
}

func (v gatewayConsents) Consents(ctx context.Context, m subscribers.MSISDN) ([]subscribers.Consent, error) {
	g, err := v.gateway()
	if err != nil {
		return nil, err
	}
	cs, err := g.Consents(ctx, uint64(m))
	if errors.Is(err, idgw.ErrUnknownSubscriber) {
		return nil, nil // deleted: its records are no one's now
	}
	if err != nil {
		return nil, err
	}
	out := make([]subscribers.Consent, 0, len(cs))
	for _, c := range cs {
		sc := make([]subscribers.ScopeConsent, 0, len(c.Scopes))
		for _, s := range c.Scopes {
			sc = append(sc, subscribers.ScopeConsent{Scope: s.Scope, GrantedAt: s.GrantedAt, ACR: s.ACR, AMR: s.AMR, OnConsentPage: s.OnConsentPage})
		}
		out = append(out, subscribers.Consent{ClientID: c.ClientID, SPName: c.SPName, Scopes: sc, Claims: c.Claims,
			FirstGranted: c.FirstGranted, LastUsed: c.LastUsed, Expires: c.Expires})
	}
	return out, nil
}

func (v gatewayConsents) WithdrawConsent(ctx context.Context, m subscribers.MSISDN, clientID string) error {
	g, err := v.gateway()
	if err != nil {
		return err
	}
	err = g.WithdrawConsent(ctx, uint64(m), clientID)
	if errors.Is(err, idgw.ErrNoConsent) {
		return subscribers.ErrNoConsent
	}
	return err
}
