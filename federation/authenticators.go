package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/redirectauth"
	"github.com/mcfed/mcfed/operator/seamless"
	"github.com/mcfed/mcfed/operator/simapplet"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/sms"
)

// AuthenticatorConfig is one authenticator an operator's gateway runs: its
// type, a row of authenticatorTypes, and its settings, that type's JSON.
// A node's Config.Authenticators lists them in the operator's order of
// preference (routing tries them in that order among those that reach
// the requested level).
type AuthenticatorConfig struct {
	Type     string          `json:"type"`
	Settings json.RawMessage `json:"settings,omitempty"`
}

// authenticatorType builds one kind of authenticator from its settings:
// the registrations routing gets (one per level it serves) and what the
// node must close when it stops.
type authenticatorType func(n *Node, settings json.RawMessage) ([]idgw.Registration, []io.Closer, error)

// authenticatorTypes is the one place that knows the authenticator types;
// the gateway sees only idgw.Authenticator (and finds their pages through
// idgw.PageServer). A new authenticator is a row here and the function
// that decodes its settings into its package's Config and calls its
// constructor (FIDO's gives it n.state for its credentials and adds its
// enrolments to n.enrolments).
func authenticatorTypes() map[string]authenticatorType {
	return map[string]authenticatorType{
		"sms":        (*Node).smsAuthenticator,
		"sim-applet": (*Node).simAppletAuthenticator,
		"fido":       (*Node).fidoAuthenticator,
		"seamless":   (*Node).seamlessAuthenticator,
		"redirect":   (*Node).redirectAuthenticator,
	}
}

// authenticators builds the operator's authenticators, in its order.
func (n *Node) authenticators() ([]idgw.Registration, error) {
	types := authenticatorTypes()
	var regs []idgw.Registration
	for _, c := range n.cfg.Authenticators {
		build, ok := types[c.Type]
		if !ok { // validate refused it already
			return nil, fmt.Errorf("authenticator type %q is unknown", c.Type)
		}
		r, closers, err := build(n, c.Settings)
		n.closers = append(n.closers, closers...)
		if err != nil {
			return nil, fmt.Errorf("%s authenticator: %w", c.Type, err)
		}
		regs = append(regs, r...)
	}
	return regs, nil
}

// decodeSettings reads an authenticator's settings into v, refusing
// fields v does not have (a typo is said at start, not ignored).
func decodeSettings(settings json.RawMessage, v any) error {
	if len(bytes.TrimSpace(settings)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(settings))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// smsSettings are the SMS authenticator's settings; what they leave out
// comes from the node's --sms-mode and --smsc-* flags.
type smsSettings struct {
	Mode        string        `json:"mode"`
	CodeLength  int           `json:"code_length"`
	TTL         jsonDuration  `json:"ttl"`
	MaxAttempts int           `json:"max_attempts"`
	SendLimit   int           `json:"send_limit"`
	SendWindow  jsonDuration  `json:"send_window"`
	SMSC        *smscSettings `json:"smsc"`
}

type smscSettings struct {
	Addr       string `json:"addr"`
	SystemID   string `json:"system_id"`
	Password   string `json:"password"`
	SourceAddr string `json:"source"`
}

// smsAuthenticator is SMS (code or link, whichever the person uses) over
// the operator's SMSC.
func (n *Node) smsAuthenticator(settings json.RawMessage) ([]idgw.Registration, []io.Closer, error) {
	s := smsSettings{Mode: n.cfg.SMSMode}
	if err := decodeSettings(settings, &s); err != nil {
		return nil, nil, err
	}
	var smsc smpp.Config
	switch {
	case s.SMSC != nil:
		smsc = smpp.Config{Addr: s.SMSC.Addr, SystemID: s.SMSC.SystemID, Password: s.SMSC.Password, SourceAddr: s.SMSC.SourceAddr}
	case n.cfg.SMSC != nil:
		smsc = *n.cfg.SMSC
	default:
		return nil, nil, errors.New("no SMSC: give --smsc-addr or the settings' smsc")
	}
	if err := smsc.Validate(); err != nil {
		return nil, nil, err
	}
	client, err := smpp.New(smsc) // connects, and reconnects, in the background
	if err != nil {
		return nil, nil, fmt.Errorf("SMSC: %w", err)
	}
	a, err := sms.New(sms.Config{Mode: sms.Mode(s.Mode), CodeLength: s.CodeLength, TTL: time.Duration(s.TTL),
		MaxAttempts: s.MaxAttempts, SendLimit: s.SendLimit, SendWindow: time.Duration(s.SendWindow),
		PublicURL: n.PublicURL(), OperatorName: n.cfg.OperatorID, Store: n.state}, client)
	if err != nil {
		return nil, []io.Closer{client}, err
	}
	// Its pages (code form, link target) are mounted by the gateway: it is
	// an idgw.PageServer.
	return []idgw.Registration{{Info: a.Info(), Impl: a}}, []io.Closer{client}, nil
}

// simAppletSettings are the SIM applet authenticator's: its MSSP and how
// the gateway identifies itself there (TS 102 204 over the REST binding),
// the levels it offers ("ok", "pin"), the bound on each MSSP call and the
// person's time to answer.
type simAppletSettings struct {
	MSSPURL    string       `json:"mssp_url"`
	APID       string       `json:"ap_id"`
	APPassword string       `json:"ap_password"`
	MSSPID     string       `json:"mssp_id"`
	Timeout    jsonDuration `json:"timeout"`
	TTL        jsonDuration `json:"ttl"`
	Levels     []string     `json:"levels"`
}

// simAppletAuthenticator is the SIM applet through an MSSP: click-OK at
// LoA 2, the PIN at LoA 3, for the subscribers whose SIM is enrolled on
// this node (PUT /v1/subscribers/{msisdn}/sim-applet).
func (n *Node) simAppletAuthenticator(settings json.RawMessage) ([]idgw.Registration, []io.Closer, error) {
	var s simAppletSettings
	if err := decodeSettings(settings, &s); err != nil {
		return nil, nil, err
	}
	client, err := mss.NewClient(mss.ClientConfig{URL: s.MSSPURL, APID: s.APID, APPassword: s.APPassword,
		MSSPID: s.MSSPID, Timeout: time.Duration(s.Timeout)})
	if err != nil {
		return nil, nil, err
	}
	a, err := simapplet.New(simapplet.Config{Levels: s.Levels, TTL: time.Duration(s.TTL), Log: n.log}, client, n.state)
	if err != nil {
		return nil, nil, err
	}
	return a.Registrations(), nil, nil
}

// jsonDuration is a duration in settings: "90s", "5m" (or days, "1d").
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"90s\" or \"5m\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = jsonDuration(v)
	return nil
}

// fidoSettings are the FIDO authenticator's (passkeys, LoA 3): its
// relying party (by default the node's public URL's host and origin,
// which must then be a name: browsers refuse an IP address) and bounds.
type fidoSettings struct {
	RPID             string       `json:"rp_id"`
	RPName           string       `json:"rp_name"`
	Origins          []string     `json:"origins"`
	UserVerification string       `json:"user_verification"`
	LoginTTL         jsonDuration `json:"login_ttl"`
	EnrolTTL         jsonDuration `json:"enrol_ttl"`
	MaxAttempts      int          `json:"max_attempts"`
	MaxPasskeys      int          `json:"max_passkeys"`
	// PushURL is the operator's push service for passkeys on the
	// subscribers' phones (fido.HTTPPusher; in mcfed dev the simulated
	// handset's /handset/push), PushToken its bearer token.
	PushURL   string `json:"push_url"`
	PushToken string `json:"push_token"`
}

// fidoAuthenticator is FIDO (operator/fido) for the subscribers with a
// passkey in the node's state store; routing learns who has one through
// n.enrolments.
func (n *Node) fidoAuthenticator(settings json.RawMessage) ([]idgw.Registration, []io.Closer, error) {
	var s fidoSettings
	if err := decodeSettings(settings, &s); err != nil {
		return nil, nil, err
	}
	var push fido.Pusher
	if s.PushURL != "" {
		if _, err := idgw.ParsePublicURL(s.PushURL); err != nil {
			return nil, nil, fmt.Errorf("push_url: %w", err)
		}
		push = fido.HTTPPusher{URL: s.PushURL, Token: s.PushToken}
	}
	a, err := fido.New(fido.Config{PublicURL: n.PublicURL(), RPID: s.RPID, RPName: s.RPName, Origins: s.Origins,
		OperatorName: n.cfg.OperatorID, UserVerification: s.UserVerification, LoginTTL: time.Duration(s.LoginTTL),
		EnrolTTL: time.Duration(s.EnrolTTL), MaxAttempts: s.MaxAttempts, MaxPasskeys: s.MaxPasskeys, Store: n.state,
		Push: push})
	if err != nil {
		return nil, nil, err
	}
	n.enrolments = append(n.enrolments, fidoEnrolments{a})
	// The admin API's phone enrolment finds it here.
	n.fido.Store(a)
	return []idgw.Registration{{Info: a.Info(), Impl: a}}, nil, nil
}

// fidoEnrolments tells routing who has a passkey.
type fidoEnrolments struct{ a *fido.Authenticator }

func (f fidoEnrolments) Types(ctx context.Context, msisdn uint64) ([]string, error) {
	ok, err := f.a.Enrolled(ctx, msisdn)
	if err != nil || !ok {
		return nil, err
	}
	return []string{fido.Enrolment}, nil
}

// seamlessSettings are seamless login's: the header the operator's
// mobile-data gateway writes the MSISDN in and that gateway's networks.
type seamlessSettings struct {
	Header          string   `json:"header"`
	TrustedNetworks []string `json:"trusted_networks"`
}

// seamlessAuthenticator is seamless login (operator/seamless): LoA 2,
// amr SEAM_OK, no step of the person's, for requests that came through
// the operator's mobile-data gateway.
func (n *Node) seamlessAuthenticator(settings json.RawMessage) ([]idgw.Registration, []io.Closer, error) {
	var s seamlessSettings
	if err := decodeSettings(settings, &s); err != nil {
		return nil, nil, err
	}
	a, err := seamless.New(seamless.Config{Header: s.Header, TrustedNetworks: s.TrustedNetworks, Log: n.log})
	if err != nil {
		return nil, nil, err
	}
	return []idgw.Registration{{Info: a.Info(), Impl: a}}, nil, nil
}

// redirectSettings are the redirect adaptor's (operator/redirectauth):
// the external authenticator's page and ids, the operator's signing key
// (a private JWK) and the external authenticator's public keys (a JWK
// Set), each inline or in a file, and the level and amr a success gives.
type redirectSettings struct {
	Name           string          `json:"name"`
	LoA            int             `json:"loa"`
	AMR            []string        `json:"amr"`
	Enrolment      string          `json:"enrolment"`
	URL            string          `json:"url"`
	Audience       string          `json:"audience"`
	AnswerIssuer   string          `json:"answer_issuer"`
	SigningKey     json.RawMessage `json:"signing_key"`
	SigningKeyFile string          `json:"signing_key_file"`
	JWKS           json.RawMessage `json:"jwks"`
	JWKSFile       string          `json:"jwks_file"`
	TTL            jsonDuration    `json:"ttl"`
	MaxAge         jsonDuration    `json:"max_age"`
	SendMSISDN     bool            `json:"send_msisdn"`
}

// redirectAuthenticator sends the browser to an authenticator the
// operator runs behind a page of its own, with a signed request, and
// takes back its signed answer.
func (n *Node) redirectAuthenticator(settings json.RawMessage) ([]idgw.Registration, []io.Closer, error) {
	var s redirectSettings
	if err := decodeSettings(settings, &s); err != nil {
		return nil, nil, err
	}
	keyJSON, err := inlineOrFile("signing_key", s.SigningKey, s.SigningKeyFile)
	if err != nil {
		return nil, nil, err
	}
	key, err := jose.ParsePrivate(keyJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("signing_key: %w", err)
	}
	setJSON, err := inlineOrFile("jwks", s.JWKS, s.JWKSFile)
	if err != nil {
		return nil, nil, err
	}
	set, err := jose.ParseJWKS(setJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	if s.Name == "" {
		s.Name = "redirect"
	}
	a, err := redirectauth.New(redirectauth.Config{Name: s.Name, LoA: s.LoA, AMR: s.AMR, Enrolment: s.Enrolment,
		URL: s.URL, Audience: s.Audience, AnswerIssuer: s.AnswerIssuer, PublicURL: n.PublicURL(),
		SigningKey: key, AnswerKeys: set, TTL: time.Duration(s.TTL), MaxAge: time.Duration(s.MaxAge),
		SendMSISDN: s.SendMSISDN, Store: n.state, Log: n.log})
	if err != nil {
		return nil, nil, err
	}
	return []idgw.Registration{{Info: a.Info(), Impl: a}}, nil, nil
}

// inlineOrFile is a setting given inline (JSON) or as a file's path, one
// of the two.
func inlineOrFile(name string, inline json.RawMessage, file string) ([]byte, error) {
	switch {
	case len(bytes.TrimSpace(inline)) > 0 && file != "":
		return nil, fmt.Errorf("give %s or %s_file, not both", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s_file: %w", name, err)
		}
		return b, nil
	case len(bytes.TrimSpace(inline)) > 0:
		return inline, nil
	}
	return nil, fmt.Errorf("%s (or %s_file) is required", name, name)
}
