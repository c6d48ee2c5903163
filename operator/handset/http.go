package handset

import (
	"errors"
	"net/http"
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
func (h *Handset) Mount(r fiber.Router) {
	g := r.Group("/handset")
	g.Get("/", h.index)
	g.Get("/static/:file", serveStatic)
	g.Get("/:msisdn", h.page)
	g.Post("/:msisdn/tap", h.tapForm)
	g.Get("/:msisdn/messages", h.list)
	g.Post("/:msisdn/messages/:id/tap", h.tap)
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
