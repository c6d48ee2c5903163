package redirectauth

import (
	"errors"

	"github.com/gofiber/fiber/v2"
)

// Mount serves the return URL: GET (a redirect) or POST (a form the
// external page posts), with the answer as `response`.
func (a *Authenticator) Mount(r fiber.Router) {
	r.Get(a.returnPath, a.handleReturn)
	r.Post(a.returnPath, a.handleReturn)
}

func (a *Authenticator) handleReturn(c *fiber.Ctx) error {
	token := c.Query("response")
	if token == "" {
		token = c.FormValue("response")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	next, err := a.Answer(c.UserContext(), token)
	switch {
	case errors.Is(err, ErrBadAnswer):
		a.cfg.Log.Warn("redirectauth: a forged or malformed answer is refused", "authenticator", a.cfg.Name, "error", err)
		return c.Status(fiber.StatusBadRequest).SendString("This sign-in answer is not valid. Go back to the service and start again.")
	case errors.Is(err, ErrSpentAnswer):
		a.cfg.Log.Warn("redirectauth: an answer whose request is spent or expired is refused", "authenticator", a.cfg.Name)
		return c.Status(fiber.StatusBadRequest).SendString("This sign-in answer was used already or has expired. Go back to the service and start again.")
	case err != nil:
		a.cfg.Log.Error("redirectauth: taking an answer failed", "authenticator", a.cfg.Name, "error", err)
		return c.Status(fiber.StatusServiceUnavailable).SendString("The sign-in could not be completed now. Try again shortly.")
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
