package handset

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Mount adds the handset's routes under /handset:
//
//	GET  /handset                                 HTML list of inboxes
//	GET  /handset/static/:file                    the pages' icon, style sheet and script
//	GET  /handset/:msisdn                         HTML inbox (it updates itself)
//	POST /handset/:msisdn/tap                     form (message, link): tap as the phone, back to the inbox
//	GET  /handset/:msisdn/messages                JSON inbox, newest first
//	POST /handset/:msisdn/messages/:id/tap?link=N GET link N (0-based) of the message; JSON TapResult
//	GET  /handset/:msisdn/sim                     JSON: the SIM's prompt ({"prompt": null} when none)
//	POST /handset/:msisdn/sim                     JSON {"action": "ok"|"pin"|"cancel", "pin"}: answer it; JSON SIMResult
//	POST /handset/:msisdn/sim/answer              form (action, pin): answer it, back to the page
//	POST /handset/push                            JSON FIDOPush: a login the gateway pushes to the phone's passkey
//	GET  /handset/:msisdn/fido                    JSON: the pushed login the phone shows ({"prompt": null} when none)
//	POST /handset/:msisdn/fido                    JSON {"action": "confirm"|"decline"}: answer it; JSON FIDOResult
//	POST /handset/:msisdn/fido/answer             form (action): answer it, back to the page
func (h *Handset) Mount(r fiber.Router) {
	g := r.Group("/handset")
	g.Get("/", h.index)
	g.Post("/push", h.push)
	g.Get("/static/:file", serveStatic)
	g.Get("/:msisdn", h.page)
	g.Post("/:msisdn/tap", h.tapForm)
	g.Get("/:msisdn/messages", h.list)
	g.Post("/:msisdn/messages/:id/tap", h.tap)
	g.Get("/:msisdn/sim", h.simPrompt)
	g.Post("/:msisdn/sim", h.simAnswer)
	g.Post("/:msisdn/sim/answer", h.simAnswerForm)
	g.Get("/:msisdn/fido", h.fidoPrompt)
	g.Post("/:msisdn/fido", h.fidoAnswer)
	g.Post("/:msisdn/fido/answer", h.fidoAnswerForm)
}

// push receives a login the gateway pushes to the phone's passkey.
func (h *Handset) push(c *fiber.Ctx) error {
	var p FIDOPush
	if err := json.Unmarshal(c.Body(), &p); err != nil {
		return problem(c, fiber.StatusBadRequest, "want a JSON pushed login: "+err.Error())
	}
	switch err := h.PushFIDO(p); {
	case errors.Is(err, ErrNoPasskey):
		return problem(c, fiber.StatusNotFound, err.Error())
	case err != nil:
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	return c.SendStatus(fiber.StatusAccepted)
}

func (h *Handset) fidoPrompt(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	if p, ok := h.FIDOPrompt(d); ok {
		return c.JSON(fiber.Map{"msisdn": d, "prompt": p})
	}
	return c.JSON(fiber.Map{"msisdn": d, "prompt": nil})
}

func (h *Handset) fidoAnswer(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	var in struct{ Action string }
	if err := c.BodyParser(&in); err != nil {
		return problem(c, fiber.StatusBadRequest, "want JSON {\"action\": \"confirm\"|\"decline\"}")
	}
	res, err := h.AnswerFIDO(c.UserContext(), d, in.Action)
	return h.fidoResult(c, res, err)
}

func (h *Handset) fidoResult(c *fiber.Ctx, res FIDOResult, err error) error {
	switch {
	case errors.Is(err, ErrNoPasskey), errors.Is(err, ErrNoFIDOPush):
		return problem(c, fiber.StatusNotFound, err.Error())
	case errors.Is(err, ErrBadAnswer):
		return problem(c, fiber.StatusBadRequest, err.Error())
	case err != nil:
		return problem(c, fiber.StatusBadGateway, err.Error())
	}
	return c.JSON(res)
}

// fidoAnswerForm answers the pushed login from the page's form and goes
// back to the page, which says what the gateway made of it.
func (h *Handset) fidoAnswerForm(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	res, err := h.AnswerFIDO(c.UserContext(), d, c.FormValue("action"))
	if err != nil && !errors.Is(err, ErrNoFIDOPush) {
		return h.fidoResult(c, res, err)
	}
	return c.Redirect("/handset/"+d+"?fido="+url.QueryEscape(res.Status), fiber.StatusSeeOther)
}

func (h *Handset) simPrompt(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	if p, ok := h.SIMPrompt(d); ok {
		return c.JSON(fiber.Map{"msisdn": d, "prompt": p})
	}
	return c.JSON(fiber.Map{"msisdn": d, "prompt": nil})
}

func (h *Handset) simAnswer(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	var in struct{ Action, PIN string }
	if err := c.BodyParser(&in); err != nil {
		return problem(c, fiber.StatusBadRequest, "want JSON {\"action\": \"ok\"|\"pin\"|\"cancel\", \"pin\": \"...\"}")
	}
	res, err := h.AnswerSIM(d, in.Action, in.PIN)
	return h.simResult(c, res, err)
}

func (h *Handset) simResult(c *fiber.Ctx, res SIMResult, err error) error {
	switch {
	case errors.Is(err, ErrNoSIM), errors.Is(err, ErrNoPrompt):
		return problem(c, fiber.StatusNotFound, err.Error())
	case errors.Is(err, ErrBadAnswer):
		return problem(c, fiber.StatusBadRequest, err.Error())
	case err != nil:
		return problem(c, fiber.StatusInternalServerError, err.Error())
	}
	return c.JSON(res)
}

// simAnswerForm answers the prompt from the page's form, and goes back to
// the page, which shows what the SIM did (or the prompt again after a
// wrong PIN).
func (h *Handset) simAnswerForm(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	if _, err := h.AnswerSIM(d, c.FormValue("action"), c.FormValue("pin")); err != nil && !errors.Is(err, ErrNoPrompt) {
		return h.simResult(c, SIMResult{}, err)
	}
	return c.Redirect("/handset/"+d, fiber.StatusSeeOther)
}

func problem(c *fiber.Ctx, status int, detail string) error {
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(status).JSON(fiber.Map{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func (h *Handset) msisdn(c *fiber.Ctx) (string, error) {
	return NormalizeMSISDN(c.Params("msisdn"))
}

func (h *Handset) list(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	msgs := h.Messages(d)
	if msgs == nil {
		msgs = []Message{}
	}
	return c.JSON(fiber.Map{"msisdn": d, "messages": msgs})
}

func (h *Handset) tap(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	id := string([]byte(c.Params("id")))
	n := 0
	if s := c.Query("link"); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			return problem(c, fiber.StatusBadRequest, "link must be a number")
		}
	}
	res, err := h.Tap(c.UserContext(), d, id, n)
	switch {
	case errors.Is(err, ErrNoMessage), errors.Is(err, ErrNoLink):
		return problem(c, fiber.StatusNotFound, err.Error())
	case err != nil:
		return problem(c, fiber.StatusBadGateway, err.Error())
	}
	return c.JSON(res)
}
