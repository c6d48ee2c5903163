package handset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mcfed/mcfed/operator/fido/fidotest"
)

// FIDO on the phone: the operator's app on the simulated phone holds a
// passkey in a software authenticator with real keys (fidotest: P-256,
// real attestation and assertion objects, a sign counter). The gateway
// pushes a login to it (PushFIDO, the wire form of fido.PhoneRequest);
// the phone shows the SP's name and the binding message and asks for the
// (simulated) biometric; confirmed, it signs a WebAuthn assertion for the
// gateway's RP ID and posts it to the gateway, which verifies it as a
// browser's. "Not me" tells the gateway so.

// FIDOPush is a login pushed to the phone (fido.PhoneRequest's JSON).
type FIDOPush struct {
	MSISDN   string          `json:"msisdn"`
	ID       string          `json:"id"`
	Operator string          `json:"operator"`
	SPName   string          `json:"sp_name"`
	Message  string          `json:"message,omitempty"`
	Options  json.RawMessage `json:"options"`
	Origin   string          `json:"origin"`
	Finish   string          `json:"finish_url"`
	Decline  string          `json:"decline_url"`
	Expires  time.Time       `json:"expires_at"`
}

// FIDOPrompt is what the phone shows of a pushed login.
type FIDOPrompt struct {
	ID       string    `json:"id"`
	Operator string    `json:"operator"`
	SPName   string    `json:"sp_name"`
	Message  string    `json:"message,omitempty"`
	Received time.Time `json:"received_at"`
	Expires  time.Time `json:"expires_at"`
}

// FIDOResult is what an answer did: "signed" (the gateway accepted the
// assertion), "refused" (it did not: Detail says why), "declined" (the
// gateway was told "not me"), "over" (the login had ended).
type FIDOResult struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Answers the person gives a pushed login.
const (
	FIDOConfirm = "confirm" // the biometric: sign
	FIDODecline = "decline" // "not me"
)

// Errors of the phone's passkey.
var (
	ErrNoPasskey  = errors.New("handset: this number's phone holds no passkey")
	ErrNoFIDOPush = errors.New("handset: the phone shows no passkey request")
)

type fidoApp struct {
	auth   *fidotest.Authenticator
	prompt *FIDOPush
	shown  time.Time
}

// CreatePasskey has the phone of msisdn create a passkey (its app, for the
// operator's enrolment): options are navigator.credentials.create's as the
// gateway made them, origin the gateway's; the answer is the attestation
// the gateway verifies.
func (h *Handset) CreatePasskey(msisdn string, options []byte, origin string) ([]byte, error) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	app, ok := h.fido[d]
	if !ok {
		app = &fidoApp{auth: fidotest.New()}
		h.fido[d] = app
		h.notifyLocked()
	}
	h.mu.Unlock()
	return app.auth.Create(options, fidotest.Options{Origin: origin})
}

// PushFIDO receives a login pushed to the phone of p.MSISDN: it shows
// until answered or replaced by the next. A phone without a passkey
// refuses it (ErrNoPasskey).
func (h *Handset) PushFIDO(p FIDOPush) error {
	d, err := NormalizeMSISDN(p.MSISDN)
	if err != nil {
		return err
	}
	for _, u := range []string{p.Finish, p.Decline} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
			return fmt.Errorf("handset: a pushed login's answer URL %q is not http(s)", u)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	app, ok := h.fido[d]
	if !ok {
		return ErrNoPasskey
	}
	app.prompt, app.shown = &p, time.Now()
	h.notifyLocked()
	return nil
}

// FIDOPrompt returns the pushed login the phone of msisdn shows, if any.
func (h *Handset) FIDOPrompt(msisdn string) (FIDOPrompt, bool) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return FIDOPrompt{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	app, ok := h.fido[d]
	if !ok || app.prompt == nil {
		return FIDOPrompt{}, false
	}
	p := app.prompt
	return FIDOPrompt{ID: p.ID, Operator: p.Operator, SPName: p.SPName, Message: p.Message, Received: app.shown, Expires: p.Expires}, true
}

// HasPasskey says whether the phone of msisdn holds a passkey.
func (h *Handset) HasPasskey(msisdn string) bool {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.fido[d]
	return ok
}

// WaitForFIDOPrompt waits until the phone of msisdn shows a pushed login.
func (h *Handset) WaitForFIDOPrompt(ctx context.Context, msisdn string) (FIDOPrompt, error) {
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if p, ok := h.FIDOPrompt(msisdn); ok {
			return p, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return FIDOPrompt{}, ctx.Err()
		}
	}
}

// AnswerFIDO answers the pushed login as the person: FIDOConfirm (the
// biometric: the phone signs the assertion, with user verification, and
// posts it to the gateway) or FIDODecline. The prompt goes either way.
func (h *Handset) AnswerFIDO(ctx context.Context, msisdn, action string) (FIDOResult, error) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return FIDOResult{}, err
	}
	if action != FIDOConfirm && action != FIDODecline {
		return FIDOResult{}, fmt.Errorf("%w: %q is no answer (confirm, decline)", ErrBadAnswer, action)
	}
	h.mu.Lock()
	app, ok := h.fido[d]
	var p *FIDOPush
	switch {
	case !ok:
		h.mu.Unlock()
		return FIDOResult{}, ErrNoPasskey
	case app.prompt == nil:
		h.mu.Unlock()
		return FIDOResult{}, ErrNoFIDOPush
	}
	p, app.prompt = app.prompt, nil
	h.notifyLocked()
	h.mu.Unlock()

	if action == FIDODecline {
		status, detail, err := h.postJSON(ctx, p.Decline, nil)
		if err != nil {
			return FIDOResult{}, err
		}
		if status/100 == 2 {
			return FIDOResult{Status: "declined"}, nil
		}
		return FIDOResult{Status: "over", Detail: detail}, nil
	}
	assertion, err := app.auth.Get(p.Options, fidotest.Options{Origin: p.Origin})
	if err != nil {
		return FIDOResult{Status: "refused", Detail: err.Error()}, nil
	}
	status, detail, err := h.postJSON(ctx, p.Finish, assertion)
	switch {
	case err != nil:
		return FIDOResult{}, err
	case status/100 == 2:
		return FIDOResult{Status: "signed"}, nil
	case status == http.StatusGone:
		return FIDOResult{Status: "over", Detail: detail}, nil
	}
	return FIDOResult{Status: "refused", Detail: detail}, nil
}

// postJSON posts body (none: an empty POST) to u as the phone's app does,
// and returns the status and, for an error, the problem's detail.
func (h *Handset) postJSON(ctx context.Context, u string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.opt.HTTPClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("handset: the gateway: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	var pr struct {
		Detail string `json:"detail"`
	}
	json.Unmarshal(b, &pr)
	return resp.StatusCode, pr.Detail, nil
}
