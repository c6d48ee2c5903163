package main

import (
	"bytes"
	"flag"

	"github.com/gofiber/fiber/v2"
)

// bare serves the baseline: a fiber handler that returns a fixed JSON body
// of the size of a discovery answer, with nothing else to do.
func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9099", "listen address")
	size := fs.Int("body-size", 1300, "bytes in the answer (a discovery answer with subscriber_id is about 1.3 KB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := []byte(`{"pad":"` + string(bytes.Repeat([]byte("x"), max(0, *size-10))) + `"}`)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.All("/v2/discovery", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	})
	return app.Listen(*addr)
}
