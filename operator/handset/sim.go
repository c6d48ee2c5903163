package handset

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/mssp"
	"github.com/mcfed/mcfed/operator/ota"
)

// The simulated SIM: a SIM applet with its own signature key (ECDSA P-256
// or Ed25519, made on the card), its OTA key shared with the MSSP, and a
// PIN whose wrong tries it counts. A command packet from the MSSP that
// opens (ota) puts a prompt on the phone: the SP's name and binding
// message, and OK or the PIN. The person's answer goes back as a response
// packet: the signature over the challenge, or cancel, or "PIN blocked".
// A command packet that fails its checksum is answered "checksum failed"
// (TS 102 225's PoR), with the command's counter; a replayed one is
// dropped.

// SIMConfig configures a simulated SIM.
type SIMConfig struct {
	PIN      string // default "1234"
	PINTries int    // wrong PINs before it blocks; default 3
	Ed25519  bool   // the applet key is Ed25519 (default ECDSA P-256)
}

// SIMCard is what the operator learns of a new SIM at personalisation, to
// enrol it with the MSSP and the gateway: its applet key's public half
// (PKIX, DER) and its OTA key.
type SIMCard struct {
	PublicKey []byte
	OTAKey    ota.Key
}

// SIMPrompt is what the SIM shows the person.
type SIMPrompt struct {
	ID      string `json:"id"`
	SPName  string `json:"sp_name"`
	Message string `json:"message,omitempty"`
	// PIN: the person consents with the PIN, else with OK.
	PIN       bool      `json:"pin"`
	TriesLeft int       `json:"tries_left"`
	Error     string    `json:"error,omitempty"` // "wrong PIN" after one
	Received  time.Time `json:"received_at"`
}

// SIMResult is what an answer did.
type SIMResult struct {
	// Status: "signed", "cancelled", "wrong_pin" (the prompt stays),
	// "blocked" (no tries left: the SIM answered PIN_NR_BLOCKED).
	Status    string `json:"status"`
	TriesLeft int    `json:"tries_left"`
}

// Errors of the SIM's API.
var (
	ErrNoSIM     = errors.New("handset: this number has no simulated SIM")
	ErrNoPrompt  = errors.New("handset: the SIM shows no prompt")
	ErrBadAnswer = errors.New("handset: the prompt asks for the other answer (OK or the PIN)")
)

type simCard struct {
	key      crypto.Signer
	ota      ota.Key
	pin      string
	tries    int
	maxTries int
	blocked  bool
	received uint64 // last command counter accepted
	sent     uint64 // last response counter
	prompt   *SIMPrompt
	cmd      uint64 // the prompt's command
	txn      string
	dtbs     string
}

// AddSIM gives msisdn a new SIM (replacing one it had) and returns what
// enrolment needs.
func (h *Handset) AddSIM(msisdn string, cfg SIMConfig) (SIMCard, error) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return SIMCard{}, err
	}
	if cfg.PIN == "" {
		cfg.PIN = "1234"
	}
	if cfg.PINTries <= 0 {
		cfg.PINTries = 3
	}
	var key crypto.Signer
	if cfg.Ed25519 {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return SIMCard{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return SIMCard{}, err
	}
	c := &simCard{key: key, ota: ota.NewKey(), pin: cfg.PIN, tries: cfg.PINTries, maxTries: cfg.PINTries}
	h.mu.Lock()
	h.sims[d] = c
	h.notifyLocked()
	h.mu.Unlock()
	return SIMCard{PublicKey: pub, OTAKey: c.ota}, nil
}

// ConnectMSSP sets where the SIMs' response packets go (the MSSP's
// FromSIM).
func (h *Handset) ConnectMSSP(fromSIM func(msisdn string, packet []byte)) {
	h.mu.Lock()
	h.toMSSP = fromSIM
	h.mu.Unlock()
}

var _ mssp.Link = (*Handset)(nil)

// SendToSIM delivers a command packet to the SIM of msisdn (mssp.Link).
func (h *Handset) SendToSIM(msisdn string, packet []byte) error {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return err
	}
	h.mu.Lock()
	c, ok := h.sims[d]
	if !ok {
		h.mu.Unlock()
		return ErrNoSIM
	}
	counter, payload, err := ota.Open(c.ota, ota.ToSIM, c.received, d, packet)
	var cmd mssp.Command
	var ch mss.Challenge
	if err == nil {
		c.received = counter
		if err = json.Unmarshal(payload, &cmd); err == nil {
			ch, err = mss.ParseChallenge(cmd.DTBS)
		}
	}
	switch {
	case errors.Is(err, ota.ErrReplay):
		h.mu.Unlock()
		return nil // dropped, as a SIM drops a counter it has seen
	case err != nil:
		n, _ := ota.Counter(packet)
		reply := c.sealLocked(d, mssp.Answer{Command: n, Status: mssp.AnswerChecksumFailed})
		h.mu.Unlock()
		h.send(d, reply)
		return nil
	case ch.Profile == mss.ProfilePIN && c.blocked:
		reply := c.sealLocked(d, mssp.Answer{Command: counter, Txn: cmd.Txn, Status: mssp.AnswerPINBlocked})
		h.mu.Unlock()
		h.send(d, reply)
		return nil
	}
	c.prompt = &SIMPrompt{ID: fmt.Sprintf("p%d", counter), SPName: ch.SPName, Message: ch.Message,
		PIN: ch.Profile == mss.ProfilePIN, TriesLeft: c.tries, Received: time.Now()}
	c.cmd, c.txn, c.dtbs = counter, cmd.Txn, cmd.DTBS
	h.notifyLocked()
	h.mu.Unlock()
	return nil
}

// sealLocked makes a response packet. The caller holds h.mu.
func (c *simCard) sealLocked(msisdn string, a mssp.Answer) []byte {
	c.sent++
	b, _ := json.Marshal(a)
	return ota.Seal(c.ota, ota.FromSIM, c.sent, msisdn, b)
}

func (h *Handset) send(msisdn string, packet []byte) {
	h.mu.Lock()
	to := h.toMSSP
	h.mu.Unlock()
	if to != nil {
		to(msisdn, packet)
	}
}

// SIMPrompt returns the prompt the SIM of msisdn shows, if any.
func (h *Handset) SIMPrompt(msisdn string) (SIMPrompt, bool) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return SIMPrompt{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.sims[d]; ok && c.prompt != nil {
		return *c.prompt, true
	}
	return SIMPrompt{}, false
}

// WaitForSIMPrompt waits until the SIM of msisdn shows a prompt.
func (h *Handset) WaitForSIMPrompt(ctx context.Context, msisdn string) (SIMPrompt, error) {
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if p, ok := h.SIMPrompt(msisdn); ok {
			return p, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return SIMPrompt{}, ctx.Err()
		}
	}
}

// Answers the person gives the SIM's prompt.
const (
	SIMAnswerOK     = "ok"
	SIMAnswerPIN    = "pin"
	SIMAnswerCancel = "cancel"
)

// AnswerSIM answers the SIM's prompt as the person: OK, the PIN, or
// cancel.
func (h *Handset) AnswerSIM(msisdn, action, pin string) (SIMResult, error) {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return SIMResult{}, err
	}
	h.mu.Lock()
	c, ok := h.sims[d]
	switch {
	case !ok:
		h.mu.Unlock()
		return SIMResult{}, ErrNoSIM
	case c.prompt == nil:
		h.mu.Unlock()
		return SIMResult{}, ErrNoPrompt
	}
	var a mssp.Answer
	var res SIMResult
	switch action {
	case SIMAnswerCancel:
		a, res = mssp.Answer{Status: mssp.AnswerCancel}, SIMResult{Status: "cancelled", TriesLeft: c.tries}
	case SIMAnswerOK, SIMAnswerPIN:
		if (action == SIMAnswerPIN) != c.prompt.PIN {
			h.mu.Unlock()
			return SIMResult{}, ErrBadAnswer
		}
		if action == SIMAnswerPIN && subtle.ConstantTimeCompare([]byte(pin), []byte(c.pin)) != 1 {
			c.tries--
			if c.tries > 0 {
				c.prompt.Error, c.prompt.TriesLeft = "wrong PIN", c.tries
				h.notifyLocked()
				h.mu.Unlock()
				return SIMResult{Status: "wrong_pin", TriesLeft: c.tries}, nil
			}
			c.blocked = true
			a, res = mssp.Answer{Status: mssp.AnswerPINBlocked}, SIMResult{Status: "blocked"}
			break
		}
		if action == SIMAnswerPIN {
			c.tries = c.maxTries // a right PIN resets the count, as on a card
		}
		sig, err := mss.Sign(c.key, []byte(c.dtbs))
		if err != nil {
			h.mu.Unlock()
			return SIMResult{}, err
		}
		a, res = mssp.Answer{Status: mssp.AnswerSigned, Signature: sig}, SIMResult{Status: "signed", TriesLeft: c.tries}
	default:
		h.mu.Unlock()
		return SIMResult{}, fmt.Errorf("%w: %q is no answer (ok, pin, cancel)", ErrBadAnswer, action)
	}
	a.Command, a.Txn = c.cmd, c.txn
	reply := c.sealLocked(d, a)
	c.prompt = nil
	h.notifyLocked()
	h.mu.Unlock()
	h.send(d, reply)
	return res, nil
}
