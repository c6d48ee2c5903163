package simapplet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/state"
)

// KindSIM is the node-local table of enrolled SIMs, by number: what the
// gateway re-verifies the MSSP's answers with. It is operator data and
// never enters the registry.
const KindSIM state.Kind = "simapplet.sim"

// Capabilities of a SIM applet: how the person may consent.
const (
	CapabilityOK  = "ok"  // click-OK: LoA 2
	CapabilityPIN = "pin" // the SIM's PIN: LoA 3
)

// Enrolment types routing matches (idgw.AuthenticatorInfo.Enrolment): a
// SIM with the capability, and for the PIN one whose PIN is not blocked.
const (
	EnrolmentOK  = "sim-ok"
	EnrolmentPIN = "sim-pin"
)

// SIM is a subscriber's enrolled SIM applet.
type SIM struct {
	// PublicKey is the applet key's public half (PKIX, DER; base64 in
	// JSON): ECDSA P-256 or Ed25519.
	PublicKey    []byte   `json:"public_key"`
	Capabilities []string `json:"capabilities"`
	// PINBlocked: the SIM answered PIN_NR_BLOCKED; enrolling the SIM
	// again (after the operator unblocked it) clears it.
	PINBlocked bool      `json:"pin_blocked"`
	Enrolled   time.Time `json:"enrolled"`
}

// ErrNotEnrolled: the subscriber has no SIM applet enrolled.
var ErrNotEnrolled = errors.New("simapplet: no SIM applet enrolled for this subscriber")

// forever is how long an enrolment record lives: until it is replaced or
// deleted.
const forever = 100 * 365 * 24 * time.Hour

// Enrolments are the operator's enrolled SIMs, in its node-local store.
type Enrolments struct {
	store state.Store
	now   func() time.Time
}

// NewEnrolments keeps enrolments in store.
func NewEnrolments(store state.Store) *Enrolments {
	return &Enrolments{store: store, now: time.Now}
}

func simKey(msisdn uint64) []byte { return []byte(strconv.FormatUint(msisdn, 10)) }

// Put enrols (or replaces) the SIM of msisdn.
func (e *Enrolments) Put(ctx context.Context, msisdn uint64, sim SIM) error {
	if _, err := mss.ParsePublicKey(sim.PublicKey); err != nil {
		return err
	}
	if len(sim.Capabilities) == 0 {
		return errors.New("simapplet: a SIM has at least one capability (ok, pin)")
	}
	for _, c := range sim.Capabilities {
		if c != CapabilityOK && c != CapabilityPIN {
			return fmt.Errorf("simapplet: capability %q: want ok or pin", c)
		}
	}
	sim.PINBlocked, sim.Enrolled = false, e.now().UTC()
	b, err := json.Marshal(sim)
	if err != nil {
		return err
	}
	return e.store.Put(ctx, KindSIM, simKey(msisdn), b, e.now().Add(forever))
}

// Get returns the SIM of msisdn, or ErrNotEnrolled.
func (e *Enrolments) Get(ctx context.Context, msisdn uint64) (SIM, error) {
	r, err := e.store.Get(ctx, KindSIM, simKey(msisdn))
	if errors.Is(err, state.ErrNotFound) {
		return SIM{}, ErrNotEnrolled
	}
	if err != nil {
		return SIM{}, err
	}
	var sim SIM
	if err := json.Unmarshal(r.Value, &sim); err != nil {
		return SIM{}, fmt.Errorf("simapplet: enrolment record: %w", err)
	}
	return sim, nil
}

// Delete removes the SIM of msisdn (a SIM swap, a lost phone).
func (e *Enrolments) Delete(ctx context.Context, msisdn uint64) error {
	return e.store.Delete(ctx, KindSIM, simKey(msisdn))
}

// Types are the subscriber's SIM enrolment types for routing (EnrolmentOK,
// EnrolmentPIN): none when no SIM is enrolled, no PIN one while its PIN is
// blocked.
func (e *Enrolments) Types(ctx context.Context, msisdn uint64) ([]string, error) {
	sim, err := e.Get(ctx, msisdn)
	if errors.Is(err, ErrNotEnrolled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	if slices.Contains(sim.Capabilities, CapabilityOK) {
		out = append(out, EnrolmentOK)
	}
	if slices.Contains(sim.Capabilities, CapabilityPIN) && !sim.PINBlocked {
		out = append(out, EnrolmentPIN)
	}
	return out, nil
}

// blockPIN records that the SIM of msisdn answered PIN_NR_BLOCKED.
func (e *Enrolments) blockPIN(ctx context.Context, msisdn uint64) error {
	_, err := e.store.Update(ctx, KindSIM, simKey(msisdn), func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, ErrNotEnrolled
		}
		var sim SIM
		if err := json.Unmarshal(old.Value, &sim); err != nil {
			return state.Record{}, err
		}
		sim.PINBlocked = true
		b, err := json.Marshal(sim)
		return state.Record{Value: b, Expires: old.Expires}, err
	})
	return err
}

// Mount adds the enrolment API to the operator's subscriber provisioning
// (under the admin API's /v1, behind its operator-admin check):
//
//	PUT    /subscribers/:msisdn/sim-applet  {"public_key": "<base64 PKIX DER>", "capabilities": ["ok", "pin"]}
//	GET    /subscribers/:msisdn/sim-applet
//	DELETE /subscribers/:msisdn/sim-applet
func (e *Enrolments) Mount(v1 fiber.Router) {
	v1.Put("/subscribers/:msisdn/sim-applet", e.put)
	v1.Get("/subscribers/:msisdn/sim-applet", e.get)
	v1.Delete("/subscribers/:msisdn/sim-applet", e.delete)
}

func writeProblem(c *fiber.Ctx, p *problem.Error) error {
	c.Set(fiber.HeaderContentType, problem.ContentType)
	return c.Status(p.Problem.Status).JSON(p.Problem)
}

func msisdnParam(c *fiber.Ctx) (uint64, *problem.Error) {
	n, err := e164.Parse(c.Params("msisdn"))
	if err != nil {
		return 0, problem.New(fiber.StatusBadRequest, "invalid-msisdn", err.Error())
	}
	return n, nil
}

func (e *Enrolments) put(c *fiber.Ctx) error {
	n, p := msisdnParam(c)
	if p != nil {
		return writeProblem(c, p)
	}
	var sim SIM
	if err := json.Unmarshal(c.Body(), &sim); err != nil {
		return writeProblem(c, problem.New(fiber.StatusBadRequest, "invalid-body", "want {\"public_key\": base64, \"capabilities\": [\"ok\", \"pin\"]}: "+err.Error()))
	}
	if err := e.Put(c.UserContext(), n, sim); err != nil {
		return writeProblem(c, problem.New(fiber.StatusBadRequest, "invalid-body", err.Error()))
	}
	sim, err := e.Get(c.UserContext(), n)
	if err != nil {
		return err
	}
	return c.JSON(sim)
}

func (e *Enrolments) get(c *fiber.Ctx) error {
	n, p := msisdnParam(c)
	if p != nil {
		return writeProblem(c, p)
	}
	sim, err := e.Get(c.UserContext(), n)
	if errors.Is(err, ErrNotEnrolled) {
		return writeProblem(c, problem.New(fiber.StatusNotFound, "not-found", err.Error()))
	}
	if err != nil {
		return err
	}
	return c.JSON(sim)
}

func (e *Enrolments) delete(c *fiber.Ctx) error {
	n, p := msisdnParam(c)
	if p != nil {
		return writeProblem(c, p)
	}
	if err := e.Delete(c.UserContext(), n); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
