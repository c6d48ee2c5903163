package fido

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/state"
)

// FIDO on the subscriber's phone. A passkey the operator enrolled on the
// subscriber's phone (its app, or in the sandbox the simulated handset:
// EnrolPhone) is reached by a push, as the SIM applet is reached through
// the MSSP: Start sends the phone a PhoneRequest (the SP's name, the
// binding message, the WebAuthn request options and where to answer);
// the phone shows them, asks for its biometric, signs a real WebAuthn
// assertion for the gateway's RP ID and posts it to the Finish URL, which
// verifies it exactly as a browser's (FinishLogin: go-webauthn, the
// challenge single use, the sign counter). Meanwhile the login page waits
// for it (its status endpoint) and then returns to the gateway. "Not me"
// on the phone posts to Decline: the challenge fails as refused.
//
// The push needs no browser, so the same channel can serve a
// server-initiated login later; today Start still wants one (the page the
// person waits on).

// PhoneRequest is what the push carries to the phone (JSON).
type PhoneRequest struct {
	// MSISDN is the phone's number, E.164 with '+'.
	MSISDN string `json:"msisdn"`
	// ID names the request (the challenge's page token): the phone
	// answers it once.
	ID       string `json:"id"`
	Operator string `json:"operator"`
	SPName   string `json:"sp_name"`
	Message  string `json:"message,omitempty"`
	// Options are navigator.credentials.get's ({"publicKey": ...}, binary
	// members base64url), with the gateway's RP ID and the challenge.
	Options json.RawMessage `json:"options"`
	// Origin is the gateway's origin, which the assertion's client data
	// names (the operator's app speaks for the gateway's own origin).
	Origin  string    `json:"origin"`
	Finish  string    `json:"finish_url"`
	Decline string    `json:"decline_url"`
	Expires time.Time `json:"expires_at"`
}

// Pusher delivers a PhoneRequest to the subscriber's phone. An error is
// an unreachable phone: the login falls back.
type Pusher interface {
	Push(ctx context.Context, r PhoneRequest) error
}

// HTTPPusher posts the request as JSON to URL (the operator's push
// service; in the sandbox the simulated handset's /handset/push), with
// Token as a bearer token when set.
type HTTPPusher struct {
	URL    string
	Token  string
	Client *http.Client // default: a client with a 5 s timeout
}

var pushClient = &http.Client{Timeout: 5 * time.Second}

// Push implements Pusher: any 2xx answer is a delivered push.
func (p HTTPPusher) Push(ctx context.Context, r PhoneRequest) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	c := p.Client
	if c == nil {
		c = pushClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fido: the push: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fido: the push service answered %s", resp.Status)
	}
	return nil
}

// errNoPhone: the push did not reach the phone (routing falls back).
var errNoPhone = errors.New("fido: the phone could not be reached")

// hasPhonePasskey says whether rec holds a passkey the operator enrolled
// on the phone.
func hasPhonePasskey(rec subscriberRecord) bool {
	for _, p := range rec.Passkeys {
		if p.Phone {
			return true
		}
	}
	return false
}

// push sends the challenge of page token to the phone of msisdn.
func (a *Authenticator) push(ctx context.Context, msisdn uint64, token string, rec challengeRecord, message string) error {
	q := "?c=" + url.QueryEscape(token)
	r := PhoneRequest{MSISDN: e164.Format(msisdn), ID: token, Operator: rec.View.Look.Name, SPName: rec.View.SP,
		Message: clean(message, 200), Options: rec.Options, Origin: a.public.Scheme + "://" + a.public.Host,
		Finish: a.public.String() + "/fido/login/finish" + q, Decline: a.public.String() + "/fido/phone/decline" + q,
		Expires: rec.Expires}
	if err := a.cfg.Push.Push(ctx, r); err != nil {
		return fmt.Errorf("%w: %w", errNoPhone, err)
	}
	return nil
}

// Decline ends the challenge of page token as the person's refusal on
// the phone ("not me"): the gateway's Check then fails it, and routing
// may fall back. Only a pending challenge can be declined.
func (a *Authenticator) Decline(ctx context.Context, token string) error {
	id, ok := parseToken(token)
	if !ok {
		return ErrNoChallenge
	}
	_, err := a.cfg.Store.Update(ctx, kindChallenge, id, func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, ErrNoChallenge
		}
		var rec challengeRecord
		if err := json.Unmarshal(old.Value, &rec); err != nil {
			return state.Record{}, err
		}
		if rec.Status != statusPending || !a.cfg.Now().Before(rec.Expires) {
			return state.Record{}, ErrChallengeOver
		}
		rec.Status, rec.Refusal, rec.Failure = statusFailed, "the person declined on the phone", idgw.FailureRefused
		return encodeRecord(rec, old.Expires)
	})
	return err
}

// LoginStatus is where the challenge of page token stands, for the page
// that waits for the phone: "pending", or "over" (verified, failed,
// used: the gateway decides).
func (a *Authenticator) LoginStatus(ctx context.Context, token string) (string, error) {
	id, ok := parseToken(token)
	if !ok {
		return "", ErrNoChallenge
	}
	rec, err := a.challenge(ctx, id)
	switch {
	case err != nil:
		return "", err
	case rec.Status == statusPending && a.cfg.Now().Before(rec.Expires):
		return "pending", nil
	}
	return "over", nil
}

// RemovePhonePasskeys removes every passkey of msisdn that is on the
// phone (a phone lost or replaced); those of the person's browsers stay.
func (a *Authenticator) RemovePhonePasskeys(ctx context.Context, msisdn uint64) error {
	rec, _, err := a.loadSubscriber(ctx, msisdn)
	if err != nil {
		return err
	}
	for _, p := range rec.Passkeys {
		if !p.Phone {
			continue
		}
		err := a.RemovePasskey(ctx, msisdn, base64.RawURLEncoding.EncodeToString(p.Credential.ID))
		if err != nil && !errors.Is(err, ErrNoPasskey) { // removed meanwhile
			return err
		}
	}
	return nil
}

// EnrolPhone registers a passkey on the subscriber's phone, which the
// operator vouches for (its admin API: the phone is the subscriber's, as
// a SIM it issued is): BeginRegistration's ceremony answered by the
// phone's authenticator, verified as a browser's attestation, and the
// passkey marked as the phone's, so that Start pushes to it.
func (a *Authenticator) EnrolPhone(ctx context.Context, msisdn uint64, ceremony string, response []byte) (Passkey, error) {
	return a.finishRegistration(ctx, msisdn, ceremony, response, true)
}
