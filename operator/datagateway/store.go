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
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
		return Record{}, fmt.Errorf("subscriber store: %w", ErrNotFound)
	case err != nil:
		return Record{}, fmt.Errorf("datagateway: subscriber store: %w", err)
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
