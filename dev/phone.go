package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mssp"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/smsc"
)

// Credentials of the demo SMSC (SMPP limits the password to 8 characters),
// and of the gateways at the demo MSSP (one application provider for all
// three: it is the demo's).
const (
	devSMSCSystemID = "mcfed"
	devSMSCPassword = "devsmsc1"
	devMSSPAPID     = "mcfed-dev-gateway"
	devMSSPPassword = "devmssp1"
	// devSIMPIN is every demo SIM's PIN.
	devSIMPIN = "1234"
)

// Phone is a carrier side for trying a federation: a simulated SMSC
// speaking SMPP on loopback that delivers to a simulated handset, whose
// page and JSON API (one inbox per number) are served on their own
// loopback listener; and, when asked, an MSSP (TS 102 204's REST binding
// on loopback) that reaches the simulated SIMs in that handset over OTA.
// The demo federation runs one; `mcfed smsc` runs one on its own, a
// stand-in for an operator's SMSC.
type Phone struct {
	smsc    *smsc.Server
	mssp    *mssp.Server
	handset *handset.Handset
	app     *fiber.App
	ln      net.Listener
}

// PhoneConfig says where a Phone listens and what an SMPP client binds
// with.
type PhoneConfig struct {
	SMSCAddr, HandsetAddr string // host:port; port 0 picks one
	SystemID, Password    string // the SMPP bind's credentials
	// MSSPAddr, when set, starts the MSSP there (the SIM applet's).
	MSSPAddr string
	Logger   *slog.Logger
}

// StartPhone starts a Phone; Close stops it.
func StartPhone(cfg PhoneConfig) (*Phone, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Phone{handset: handset.New(handset.Options{})}
	var err error
	if p.smsc, err = smsc.Listen(smsc.Config{Addr: cfg.SMSCAddr, SystemID: cfg.SystemID,
		Password: cfg.Password, Deliverer: p.handset, Logger: logger}); err != nil {
		return nil, fmt.Errorf("simulated SMSC: %w", err)
	}
	if cfg.MSSPAddr != "" {
		if p.mssp, err = mssp.Listen(cfg.MSSPAddr, mssp.Config{APID: devMSSPAPID, APPassword: devMSSPPassword,
			Link: p.handset, Logger: logger}); err != nil {
			p.smsc.Close()
			return nil, fmt.Errorf("simulated MSSP: %w", err)
		}
		p.handset.ConnectMSSP(p.mssp.FromSIM)
	}
	if p.ln, err = net.Listen("tcp", cfg.HandsetAddr); err != nil {
		p.smsc.Close()
		if p.mssp != nil {
			p.mssp.Close()
		}
		return nil, fmt.Errorf("simulated handset: %w", err)
	}
	p.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	p.app.Use(requestLog(logger, "handset"))
	p.handset.Mount(p.app)
	go p.app.Listener(p.ln)
	return p, nil
}

// smppConfig is how an operator's node reaches the demo SMSC.
func (p *Phone) smppConfig(sender string) *smpp.Config {
	return &smpp.Config{Addr: p.smsc.Addr(), SystemID: devSMSCSystemID, Password: devSMSCPassword,
		SourceAddr: sender, SourceTON: 5}
}

// simApplet is how an operator's node reaches the demo MSSP: the SIM
// applet authenticator's settings.
func (p *Phone) simApplet() federation.AuthenticatorConfig {
	settings, _ := json.Marshal(map[string]string{"mssp_url": p.mssp.URL(), "ap_id": devMSSPAPID, "ap_password": devMSSPPassword})
	return federation.AuthenticatorConfig{Type: "sim-applet", Settings: settings}
}

// fido is the FIDO authenticator's row: logins of a subscriber whose
// passkey is on the phone are pushed to the simulated handset.
func (p *Phone) fido() federation.AuthenticatorConfig {
	settings, _ := json.Marshal(map[string]string{"push_url": p.URL() + "/push"})
	return federation.AuthenticatorConfig{Type: "fido", Settings: settings}
}

// enrolPhonePasskey gives the phone of number (operator i's subscriber) a
// passkey in its software authenticator, enrolled through the operator's
// admin API as an operator enrols its app on a phone: the phone answers
// the registration ceremony for the gateway's RP ID and origin, which the
// gateway verifies. The handset keeps its keys in memory, so each start
// enrols a new one after removing the last start's.
func (d *Federation) enrolPhonePasskey(ctx context.Context, i int, number string) error {
	a, base := d.admin(i), "/v1/subscribers/"+number+"/phone-passkey"
	if err := a.Do(ctx, "DELETE", base, nil, nil); err != nil {
		return fmt.Errorf("remove the passkey on the phone of %s: %w", number, err)
	}
	var cer struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if err := a.Do(ctx, "POST", base+"/begin", map[string]any{}, &cer); err != nil {
		return fmt.Errorf("a passkey for the phone of %s: %w", number, err)
	}
	att, err := d.phone.handset.CreatePasskey(number, cer.Options, d.Nodes[i].PublicURL())
	if err != nil {
		return fmt.Errorf("the phone of %s making its passkey: %w", number, err)
	}
	if err := a.Do(ctx, "POST", base+"/finish?ceremony="+url.QueryEscape(cer.Ceremony), json.RawMessage(att), nil); err != nil {
		return fmt.Errorf("enrol the passkey on the phone of %s: %w", number, err)
	}
	return nil
}

// addSIM gives number a new simulated SIM, enrols it with the MSSP, and
// returns what the operator's node must enrol.
func (p *Phone) addSIM(number string) (handset.SIMCard, error) {
	card, err := p.handset.AddSIM(number, handset.SIMConfig{PIN: devSIMPIN})
	if err != nil {
		return card, err
	}
	return card, p.mssp.Enrol(number, card.PublicKey, card.OTAKey)
}

// URL is the handset's base URL (its index page lists the inboxes).
func (p *Phone) URL() string { return "http://" + p.ln.Addr().String() + "/handset" }

// SMSCAddr is the host:port the SMSC listens on for SMPP.
func (p *Phone) SMSCAddr() string { return p.smsc.Addr() }

// Close stops the handset's listener, the SMSC and the MSSP.

func (p *Phone) Close() error {
	// A bounded wait: a client's idle keep-alive connection (a load
	// generator polling the handset) must not hold the demo's exit.
	err := p.app.ShutdownWithTimeout(5 * time.Second)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // what is still open is cut with the listener
	}
	p.ln.Close()
	if cerr := p.smsc.Close(); err == nil {
		err = cerr
	}
	if p.mssp != nil {
		if cerr := p.mssp.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// requestLog logs the handset's requests: a tap at info, as the nodes log
// theirs; the pages' looks for news every few seconds only at debug.
func requestLog(logger *slog.Logger, listener string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		level := slog.LevelDebug
		if c.Method() != fiber.MethodGet {
			level = slog.LevelInfo
		}
		logger.Log(c.UserContext(), level, "request", "listener", listener, "method", c.Method(),
			"route", c.Route().Path, "status", c.Response().StatusCode(), "duration", time.Since(start))
		return err
	}
}
