package idgw

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func TestErrorRedirectURL(t *testing.T) {
	for _, tc := range []struct {
		uri, want string
	}{
		{"https://shop.example/cb", "https://shop.example/cb?error=access_denied&error_description=no+way&state=s+1%26x%3Dy&correlation_id=c%2F1"},
		{"https://shop.example/cb?app=1&b=%20x", "https://shop.example/cb?app=1&b=%20x&error=access_denied&error_description=no+way&state=s+1%26x%3Dy&correlation_id=c%2F1"},
		{"com.shop.app:/cb", "com.shop.app:/cb?error=access_denied&error_description=no+way&state=s+1%26x%3Dy&correlation_id=c%2F1"},
	} {
		e := ErrAccessDenied("no way").withRedirect(tc.uri, "s 1&x=y", "c/1")
		if got := e.ErrorRedirectURL(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.uri, got, tc.want)
		}
	}
	// Empty state and correlation_id are left out.
	if got := ErrInvalidRequest("x").withRedirect("https://a.example/cb", "", "").ErrorRedirectURL(); got != "https://a.example/cb?error=invalid_request&error_description=x" {
		t.Error(got)
	}
	e := ErrInvalidRequest("x").withRedirect("https://a.example/cb", "s", "c")
	if w := e.WithoutRedirect(); w.Redirects() || w.ErrorRedirectURL() != "" || !e.Redirects() {
		t.Error("WithoutRedirect")
	}
	if ErrInvalidRequest("x").Redirects() {
		t.Error("a fresh error redirects")
	}
}

func TestOAuthErrorsAreSafe(t *testing.T) {
	cause := errors.New("pq: password authentication failed for user admin")
	for _, e := range []*OAuthError{ErrServerError(cause), ErrTemporarilyUnavailable(cause)} {
		if strings.Contains(e.Description, "pq") || strings.Contains(e.Error(), "password") {
			t.Errorf("%s leaks its cause: %q", e.Code, e.Description)
		}
		if !errors.Is(e, cause) {
			t.Errorf("%s does not keep its cause for logs", e.Code)
		}
	}
	if d := ErrInvalidRequest("bad \"quote\" \\ and\r\nnewline é").Description; d != "bad quote  andnewline " {
		t.Errorf("description %q", d)
	}
	if d := ErrInvalidRequest(strings.Repeat("x", 1000)).Description; len(d) != 256 {
		t.Errorf("description of %d bytes", len(d))
	}
	codes := map[ErrorCode]*OAuthError{
		CodeInvalidRequest: ErrInvalidRequest(""), CodeInvalidScope: ErrInvalidScope(""),
		CodeAccessDenied: ErrAccessDenied(""), CodeUnauthorizedClient: ErrUnauthorizedClient(""),
		CodeUnsupportedResponseType: ErrUnsupportedResponseType(""), CodeServerError: ErrServerError(nil),
		CodeTemporarilyUnavailable: ErrTemporarilyUnavailable(nil), CodeLoginRequired: ErrLoginRequired(""),
		CodeConsentRequired: ErrConsentRequired(""), CodeInteractionRequired: ErrInteractionRequired(""),
	}
	for code, e := range codes {
		if e.Code != code {
			t.Errorf("%s has code %s", code, e.Code)
		}
	}
}

// TestAuthorizeErrorAnswers runs requests through a fiber handler that
// answers like the authorize endpoint: redirectable errors are 302s with
// state and correlation_id, untrusted ones a 400 page with no Location that
// escapes what it shows.
func TestAuthorizeErrorAnswers(t *testing.T) {
	g, _ := newAuthTestGateway(t)
	app := fiber.New()
	app.Get("/authorize", func(c *fiber.Ctx) error {
		r, e := g.parseAuthRequest(argsValues(c.Context().QueryArgs()), time.Now())
		if e != nil {
			return writeError(c, authorizeErrors, e)
		}
		loc, err := r.SuccessRedirectURL("code")
		if err != nil {
			return err
		}
		return c.Redirect(loc, fiber.StatusFound)
	})
	get := func(args url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/authorize?"+args.Encode(), nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	// Redirectable: missing nonce.
	args := authTestArgs()
	args.Del("nonce")
	resp, _ := get(args)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != string(CodeInvalidRequest) ||
		loc.Query().Get("state") != "st-1" || loc.Query().Get("correlation_id") != "corr-1" || loc.Query().Get("app") != "1" {
		t.Fatalf("status %d, Location %q", resp.StatusCode, loc)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("error redirect is cacheable")
	}

	const xss = `<script>alert("x")</script>`
	for name, change := range map[string]func(url.Values){
		"unknown client":            func(v url.Values) { v.Set("client_id", xss) },
		"unregistered redirect_uri": func(v url.Values) { v.Set("redirect_uri", "https://evil.example/?"+xss) },
		"missing redirect_uri":      func(v url.Values) { v.Del("redirect_uri") },
	} {
		t.Run(name, func(t *testing.T) {
			args := authTestArgs()
			args.Set("correlation_id", xss)
			args.Set("state", xss)
			change(args)
			resp, body := get(args)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, ok := resp.Header["Location"]; ok {
				t.Fatalf("a 400 page with Location %q", resp.Header.Get("Location"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("Content-Type %q", ct)
			}
			if strings.Contains(body, "<script") || !strings.Contains(body, "&lt;script&gt;") {
				t.Fatalf("page does not escape what it shows:\n%s", body)
			}
			if strings.Contains(body, "evil.example") || strings.Contains(body, "http") {
				t.Fatalf("page links or names external addresses:\n%s", body)
			}
			if !strings.Contains(body, string(CodeInvalidRequest)) {
				t.Fatalf("page does not name the error:\n%s", body)
			}
		})
	}
}

// TestDefaultToServerError: an OAuth error passes through, wrapped or
// not; anything else becomes a server_error that hides it and keeps it.
func TestDefaultToServerError(t *testing.T) {
	denied := ErrAccessDenied("no way")
	if got := DefaultToServerError(fmt.Errorf("checking: %w", denied)); got != denied {
		t.Fatalf("a wrapped OAuth error became %v", got)
	}
	cause := errors.New("bolt: database not open")
	got := DefaultToServerError(cause)
	if got.Code != CodeServerError || strings.Contains(got.Description, "bolt") || !errors.Is(got, cause) {
		t.Fatalf("a plain error became %#v", got)
	}
	if e := ErrInvalidRequest("x").WithParent(cause); !errors.Is(e, cause) || e.Description != "x" {
		t.Fatalf("WithParent: %#v", e)
	}
}
