package idgw

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestAnsweredErrorOfARedirect: an authorization error redirected to the
// SP is a 302 as a success is; AnsweredError tells the node's request log
// which it was, and says nothing of an answer without an error.
func TestAnsweredErrorOfARedirect(t *testing.T) {
	g, _ := newAuthTestGateway(t)
	app := fiber.New()
	var got []ErrorCode
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		got = append(got, AnsweredError(c))
		return err
	})
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {shopCB}, "response_type": {"token"}, "scope": {"openid"},
		"state": {"s1"}, "nonce": {"n1"}}
	resp, err := app.Test(httptest.NewRequest("GET", "/authorize?"+q.Encode(), nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.Contains(loc, "error=") {
		t.Fatalf("authorize with response_type=token: %d %q, want a redirected error", resp.StatusCode, loc)
	}
	if resp, err = app.Test(httptest.NewRequest("GET", "/jwks", nil), -1); err != nil || resp.StatusCode != 200 {
		t.Fatalf("jwks: %v %v", resp, err)
	}
	want, _ := url.Parse(loc)
	if len(got) != 2 || string(got[0]) != want.Query().Get("error") || got[1] != "" {
		t.Fatalf("answered errors %q, want %q then none", got, want.Query().Get("error"))
	}
}
