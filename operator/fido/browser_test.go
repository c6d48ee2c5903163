package fido_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/fido"
)

// TestBrowserPasskey walks a person through the pages in a real Chromium
// with DevTools' virtual authenticator (a platform authenticator with user
// verification): the passkeys page adds a passkey, the login page signs
// in with it and returns to the gateway, whose Check then succeeds. Only a
// browser runs the pages' script under their Content-Security-Policy; any
// console error, CSP violation or uncaught exception fails the test.
//
// MCFED_CHROMIUM names the browser (default chromium, chromium-browser or
// google-chrome on PATH); without one the test is skipped, unless
// MCFED_REQUIRE_BROWSER is set.
func TestBrowserPasskey(t *testing.T) {
	bin := os.Getenv("MCFED_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin == "" {
			bin, _ = exec.LookPath(name)
		}
	}
	if bin == "" {
		if os.Getenv("MCFED_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium found and MCFED_REQUIRE_BROWSER is set")
		}
		t.Skip("no Chromium found (chromium on PATH, or MCFED_CHROMIUM)")
	}

	r := newRig(t)
	// The gateway's continue endpoint: it asks Check, as idgw does, and
	// shows the outcome.
	var mu sync.Mutex
	var loginState []byte
	var a *fido.Authenticator
	r.app.Post("/authorize/continue", func(c *fiber.Ctx) error {
		mu.Lock()
		st := loginState
		mu.Unlock()
		out, err := a.Check(c.UserContext(), st, url.Values{"fido": {c.FormValue("fido")}})
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.SendString(fmt.Sprintf(`<!DOCTYPE html><link rel="icon" href="data:,"><title>continue</title><p id="outcome">%d</p>`, out.Status))
	})
	r.app.Get("/account", func(c *fiber.Ctx) error { return c.SendString("account") })
	a = r.auth(t, fido.Config{})

	dir := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// localhost is the RP ID; the rig listens on 127.0.0.1 only.
		chromedp.Flag("host-resolver-rules", "MAP localhost 127.0.0.1"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var problems []string
	var pmu sync.Mutex
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "uncaught exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p = "console.error"
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p = fmt.Sprintf("%s error: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
		if p != "" {
			pmu.Lock()
			problems = append(problems, p)
			pmu.Unlock()
		}
	}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("starting %s: not started within a minute", bin)
	}
	shots := os.Getenv("MCFED_SCREENSHOTS") // a directory for a screenshot of each step
	n := 0
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			pmu.Lock()
			defer pmu.Unlock()
			t.Fatalf("%s: %v; the browser reported %q", name, err, problems)
		}
		if shots != "" {
			n++
			png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
			if err == nil {
				err = os.WriteFile(filepath.Join(shots, fmt.Sprintf("fido-%02d-%s.png", n, strings.ReplaceAll(name, " ", "-"))), png, 0o644)
			}
			if err != nil {
				t.Logf("screenshot of %s: %v", name, err)
			}
		}
	}

	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	va, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true},
	})
	if err != nil {
		t.Fatal(err)
	}

	ch := r.challenge(alice, "en")
	ch.ReturnURL = r.public + "/account"
	enrol, err := a.Enrol(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	step("the passkeys page", chromedp.Navigate(enrol), chromedp.WaitVisible(chromedp.ID("no-passkeys")))
	step("a passkey added", chromedp.Click(chromedp.ID("fido-start")), chromedp.WaitVisible(chromedp.ID("passkeys")))
	keys, err := a.Passkeys(context.Background(), alice)
	if err != nil || len(keys) != 1 {
		t.Fatalf("after adding in the browser: %+v %v", keys, err)
	}

	st, err := a.Start(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	loginState = st.State
	mu.Unlock()
	// The login page uses the passkey by itself and goes back to the
	// gateway.
	step("signed in", chromedp.Navigate(st.RedirectURL), chromedp.WaitVisible(chromedp.ID("outcome")))
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	outcome, err := chromedp.Run(sctx, chromedp.Text(chromedp.ID("outcome")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(outcome) != fmt.Sprint(int(idgw.Succeeded)) {
		t.Fatalf("the gateway's Check after the login page: %q", outcome)
	}
	if keys, _ := a.Passkeys(context.Background(), alice); keys[0].LastUsed.IsZero() {
		t.Fatal("the passkey's use was not recorded")
	}

	// Without the device, the page waits for it; the person uses
	// another way instead: the challenge fails, routing would fall back.
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator,
		webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: va.AuthenticatorID}); err != nil {
		t.Fatal(err)
	}
	st, err = a.Start(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	loginState = st.State
	mu.Unlock()
	step("the login page waiting for the device", chromedp.Navigate(st.RedirectURL), chromedp.WaitVisible(chromedp.ID("fido-working")))
	step("another way", chromedp.Click(chromedp.CSS(`button[value="cancel"]`)), chromedp.WaitVisible(chromedp.ID("outcome")))
	if outcome, err = chromedp.Run(sctx, chromedp.Text(chromedp.ID("outcome"))); err != nil || strings.TrimSpace(outcome) != fmt.Sprint(int(idgw.Failed)) {
		t.Fatalf("the gateway's Check after another way: %q %v", outcome, err)
	}
	pmu.Lock()
	defer pmu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("the browser reported: %q", problems)
	}
}
