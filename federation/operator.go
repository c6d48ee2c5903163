package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/admin"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/simapplet"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/subscribers"
)

// subscribersFile is where the operator's subscribers were kept before
// they moved into the state store: a data directory that still has it is
// copied into the store on the first start with it, and the file renamed
// (subscribers.Migrate).
const subscribersFile = "subscribers.db"

// openSubscribers is the operator's subscriber store, in the node's state
// store st: subscriber data never enters the registry. A data directory's
// subscribers.db from before is copied into st; retire, called once the
// node has started, renames it. Not before: a start that fails removes
// what it made in the data directory, the state.db holding the copy among
// them, and must leave the old file where it was.
func openSubscribers(dataDir string, st state.Store, log *slog.Logger) (s *subscribers.Store, retire func(), err error) {
	s = subscribers.New(st)
	path := filepath.Join(dataDir, subscribersFile)
	res, err := s.CopyOld(path)
	if err != nil {
		return nil, nil, fmt.Errorf("subscriber store: %w", err)
	}
	if res.From == "" {
		return s, func() {}, nil
	}
	return s, func() {
		if err := subscribers.RetireOld(path); err != nil {
			// Copied again at the next start, which changes nothing.
			log.Error("subscriber store", "err", err)
			return
		}
		log.Info("subscribers copied into the state store", "from", path, "renamed", path+subscribers.MigratedSuffix,
			"subscribers", res.Subscribers, "pcr_index", res.PCRs, "kept_from_store", res.Kept)
	}, nil
}

// subscriberView is the gateway's view of the subscriber store, with the
// enrolments authenticators keep in the node's state store (the SIM
// applets', and any an authenticator's constructor adds to n.enrolments).
type subscriberView struct {
	s          *subscribers.Store
	enrolments []enrolmentSource
}

// enrolmentSource gives a subscriber's enrolment types that an
// authenticator keeps itself (simapplet.Enrolments): routing matches them
// with idgw.AuthenticatorInfo.Enrolment.
type enrolmentSource interface {
	Types(ctx context.Context, msisdn uint64) ([]string, error)
}

var _ enrolmentSource = (*simapplet.Enrolments)(nil)

// Subscriber reads the subscriber's record and PCR secret once, and its
// enrolments: what starting a login needs.
func (v subscriberView) Subscriber(ctx context.Context, n uint64) (idgw.Subscriber, error) {
	out, err := v.Standing(ctx, n)
	if err != nil {
		return idgw.Subscriber{}, err
	}
	for _, src := range v.enrolments {
		types, err := src.Types(ctx, n)
		if err != nil {
			return idgw.Subscriber{}, err
		}
		out.Enrolments = append(out.Enrolments, types...)
	}
	return out, nil
}

// Standing reads the subscriber's record and PCR secret once; the
// record goes along for the data gateway (datagateway.StoreSource).
func (v subscriberView) Standing(ctx context.Context, n uint64) (idgw.Subscriber, error) {
	sub, secret, err := v.s.Lookup(ctx, subscribers.MSISDN(n))
	if errors.Is(err, subscribers.ErrNotFound) {
		return idgw.Subscriber{}, idgw.ErrUnknownSubscriber // deleted: the secret is destroyed
	}
	if err != nil {
		return idgw.Subscriber{}, err
	}
	out := idgw.Subscriber{MSISDN: n, Active: sub.Status == subscribers.StatusActive, PCRSecret: secret, Record: &sub}
	if sub.SIMSwapAt != nil {
		out.SIMSwapAt = *sub.SIMSwapAt
	}
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

// RememberPCROps: the gateway writes the index's entry with the login's
// code (idgw.PCRIndexOps).
func (v subscriberView) RememberPCROps(ctx context.Context, clientID, pcr string, n uint64) ([]state.Op, error) {
	return v.s.RememberPCROps(ctx, clientID, pcr, subscribers.MSISDN(n))
}

func (v subscriberView) LookupPCR(_ context.Context, clientID, pcr string) (uint64, error) {
	m, err := v.s.LookupPCR(clientID, pcr)
	if errors.Is(err, subscribers.ErrNotFound) || errors.Is(err, subscribers.ErrBadPCRKey) {
		return 0, idgw.ErrUnknownPCR
	}
	return uint64(m), err
}

// provisioning is the operator's provisioning API on the admin listener:
// its subscribers, and their SIM applet enrolments.
type provisioning []admin.Mounter

func (p provisioning) Mount(v1 fiber.Router) {
	for _, m := range p {
		m.Mount(v1)
	}
}
