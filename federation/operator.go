package federation

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/subscribers"
)

// subscribersFile is the operator's subscriber store in the data directory:
// subscriber data stays on this node and never enters the registry.
const subscribersFile = "subscribers.db"

func openSubscribers(dataDir string) (*subscribers.Store, error) {
	s, err := subscribers.Open(filepath.Join(dataDir, subscribersFile))
	if err != nil {
		return nil, fmt.Errorf("subscriber store: %w", err)
	}
	return s, nil
}

// subscriberView is the gateway's view of the subscriber store.
type subscriberView struct{ s *subscribers.Store }

func (v subscriberView) Subscriber(_ context.Context, n uint64) (idgw.Subscriber, error) {
	sub, err := v.s.Get(subscribers.MSISDN(n))
	if errors.Is(err, subscribers.ErrNotFound) {
		return idgw.Subscriber{}, idgw.ErrUnknownSubscriber
	}
	if err != nil {
		return idgw.Subscriber{}, err
	}
	out := idgw.Subscriber{MSISDN: n, Active: sub.Status == subscribers.StatusActive}
	for _, e := range sub.Authenticators {
		out.Enrolments = append(out.Enrolments, e.Type)
	}
	return out, nil
}

func (v subscriberView) PCRSecret(_ context.Context, n uint64) ([]byte, error) {
	secret, err := v.s.PCRSecret(subscribers.MSISDN(n))
	if errors.Is(err, subscribers.ErrNotFound) {
		return nil, idgw.ErrUnknownSubscriber // deleted: the secret is destroyed
	}
	return secret, err
}

func (v subscriberView) RememberPCR(_ context.Context, clientID, pcr string, n uint64) error {
	return v.s.RememberPCR(clientID, pcr, subscribers.MSISDN(n))
}

func (v subscriberView) LookupPCR(_ context.Context, clientID, pcr string) (uint64, error) {
	m, err := v.s.LookupPCR(clientID, pcr)
	if errors.Is(err, subscribers.ErrNotFound) || errors.Is(err, subscribers.ErrBadPCRKey) {
		return 0, idgw.ErrUnknownPCR
	}
	return uint64(m), err
}
