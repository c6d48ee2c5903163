package datagateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcfed/mcfed/operator/subscribers"
)

// StoreSource reads attributes from the node's own subscriber store: the
// default source.
type StoreSource struct {
	Store *subscribers.Store
}

// NewStoreSource is a StoreSource over st.
func NewStoreSource(st *subscribers.Store) *StoreSource { return &StoreSource{Store: st} }

// Attributes maps the subscriber's stored attributes into a Record; its
// phone number is the MSISDN itself. A deleted subscriber (a tombstone) is
// ErrNotFound, a suspended one ErrSuspended.
func (s *StoreSource) Attributes(ctx context.Context, msisdn uint64) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("datagateway: subscriber store: %w", err)
	}
	m := subscribers.MSISDN(msisdn)
	sub, err := s.Store.Get(m)
	if err != nil {
		if errors.Is(err, subscribers.ErrNotFound) {
			return Record{}, fmt.Errorf("subscriber store: %w", ErrNotFound)
		}
		return Record{}, fmt.Errorf("datagateway: subscriber store: %w", err)
	}
	return recordOf(m, &sub)
}

// AttributesOf is Attributes from the subscriber's record as the request
// read it already (idgw.Subscriber.Record, a *subscribers.Subscriber),
// not read again; ok is false when rec is no such record.
func (s *StoreSource) AttributesOf(msisdn uint64, rec any) (r Record, ok bool, err error) {
	sub, ok := rec.(*subscribers.Subscriber)
	if !ok || sub == nil || sub.MSISDN != subscribers.MSISDN(msisdn) {
		return Record{}, false, nil
	}
	r, err = recordOf(sub.MSISDN, sub)
	return r, true, err
}

// recordOf maps a subscriber's stored attributes into a Record.
func recordOf(m subscribers.MSISDN, sub *subscribers.Subscriber) (Record, error) {
	switch {
	case sub.Status == subscribers.StatusDeleted:
		return Record{}, fmt.Errorf("subscriber store: %w", ErrNotFound)
	case sub.Status == subscribers.StatusSuspended:
		return Record{}, fmt.Errorf("subscriber store: %w", ErrSuspended)
	}
	a := sub.Attributes
	r := Record{
		Title:                a.Title,
		GivenName:            a.GivenName,
		MiddleName:           a.MiddleName,
		FamilyName:           a.FamilyName,
		Email:                a.Email,
		EmailVerified:        a.EmailVerified,
		PhoneNumber:          m.String(),
		PhoneNumberAlternate: a.PhoneNumberAlternate,
		Birthdate:            a.Birthdate,
		NationalIdentifier:   a.NationalIdentifier,
	}
	if ad := a.Address; ad != nil {
		r.Address = Address{
			StreetAddress: ad.StreetAddress,
			Locality:      ad.Locality,
			Region:        ad.Region,
			PostalCode:    ad.PostalCode,
			Country:       ad.Country,
		}
	}
	if sub.SIMSwapAt != nil {
		r.SIMSwapAt = sub.SIMSwapAt.UTC()
	}
	if sub.LastPortAt != nil {
		r.LastPortAt = sub.LastPortAt.UTC()
	}
	return r, nil
}
