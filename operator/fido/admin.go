package fido

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/problem"
)

// PhoneEnrolmentAPI is the operator's admin API for passkeys on its
// subscribers' phones, which it vouches for as it vouches for the SIMs it
// issues (under the admin API's /v1, behind its operator-admin check):
//
//	POST /subscribers/:msisdn/phone-passkey/begin                  {"ceremony", "options"}: navigator.credentials.create's
//	POST /subscribers/:msisdn/phone-passkey/finish?ceremony=<id>   the phone's attestation (JSON): 201 the passkey
//	DELETE /subscribers/:msisdn/phone-passkey                      removes the passkeys on the phone (lost, replaced): 204
//
// The attestation is verified as a browser's (FinishRegistration); the
// passkey is marked as the phone's, so logins push to it (phone.go).
// Authenticator gives the gateway's FIDO authenticator, nil while it has
// none (the routes then answer 404 problem+json).
type PhoneEnrolmentAPI struct {
	Authenticator func() *Authenticator
}

// PhonePasskey is a passkey as the admin API answers it.
type PhonePasskey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Format  string    `json:"format"`
	Phone   bool      `json:"phone"`
}

func (p PhoneEnrolmentAPI) Mount(v1 fiber.Router) {
	v1.Post("/subscribers/:msisdn/phone-passkey/begin", p.begin)
	v1.Post("/subscribers/:msisdn/phone-passkey/finish", p.finish)
	v1.Delete("/subscribers/:msisdn/phone-passkey", p.remove)
}

func (p PhoneEnrolmentAPI) remove(c *fiber.Ctx) error {
	a, n, err := p.target(c)
	if err != nil {
		return err
	}
	if err := a.RemovePhonePasskeys(c.UserContext(), n); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (p PhoneEnrolmentAPI) target(c *fiber.Ctx) (*Authenticator, uint64, error) {
	a := p.Authenticator()
	if a == nil {
		return nil, 0, problem.New(fiber.StatusNotFound, "not-found", "this operator's gateway runs no FIDO authenticator")
	}
	n, err := e164.Parse(c.Params("msisdn"))
	if err != nil {
		return nil, 0, problem.New(fiber.StatusBadRequest, "invalid-msisdn", err.Error())
	}
	return a, n, nil
}

func (p PhoneEnrolmentAPI) begin(c *fiber.Ctx) error {
	a, n, err := p.target(c)
	if err != nil {
		return err
	}
	cer, err := a.BeginRegistration(c.UserContext(), n)
	if errors.Is(err, ErrTooManyPasskeys) {
		return problem.New(fiber.StatusConflict, "conflict", err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(cer)
}

func (p PhoneEnrolmentAPI) finish(c *fiber.Ctx) error {
	a, n, err := p.target(c)
	if err != nil {
		return err
	}
	body := append([]byte(nil), c.Body()...)
	pk, err := a.EnrolPhone(c.UserContext(), n, c.Query("ceremony"), body)
	var ae *AssertionError
	switch {
	case errors.As(err, &ae):
		return problem.New(fiber.StatusBadRequest, "invalid", "the attestation was not accepted: "+ae.Reason)
	case errors.Is(err, ErrCeremonyOver):
		return problem.New(fiber.StatusGone, "gone", err.Error())
	case errors.Is(err, ErrAlreadyRegistered), errors.Is(err, ErrTooManyPasskeys):
		return problem.New(fiber.StatusConflict, "conflict", err.Error())
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(PhonePasskey{ID: pk.ID, Created: pk.Created.UTC(), Format: pk.Format, Phone: pk.Phone})
}
