package idgw

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// sibling is a second gateway node of f's operator on f's store, as an
// operator's nodes behind a load balancer share a PostgreSQL store: the
// same issuer, keys and authenticators, no memory in common.
func (f *tokenFixture) sibling() *tokenFixture {
	f.t.Helper()
	g, err := New(f.g.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	g.now = f.clock.now
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		f.t.Fatal(err)
	}
	// The SDK's cookie store goes with it from node to node.
	if c, ok := bindingJar.Load(f.app); ok {
		bindingJar.Store(app, c)
	}
	return &tokenFixture{t: f.t, g: g, app: app, clock: f.clock}
}

// TestLoginSpansTheOperatorsNodes: a login begun on one node is ended by
// another; its code is redeemed on the second and refreshed on the first;
// a code redeemed on one node is a replay on the other, and the replay
// revokes what the code led to on both.
func TestLoginSpansTheOperatorsNodes(t *testing.T) {
	a := newTokenFixture(t)
	// Begun on a: the SDK's first GET.
	if status, loc, _ := do(t, a.app, "GET", authorizeURL("state", "ha-1"), nil); status != 200 && status != 302 {
		t.Fatalf("authorize on the first node: %d %q", status, loc)
	}
	b := a.sibling()
	// The re-poll reaches b, which ends the login a began.
	status, loc, _ := do(t, b.app, "GET", authorizeURL("state", "ha-1"), nil)
	code := redirectParams(t, loc).Get("code")
	if status != 302 || code == "" {
		t.Fatalf("the re-poll on the second node: %d %q", status, loc)
	}
	status, body, _ := b.redeem("shop:"+shopSecret, codeForm(code))
	if status != 200 {
		t.Fatalf("redemption on the second node: %d %v", status, body)
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)
	if s, _, _, _ := a.get("/userinfo", "Bearer "+access); s != 200 {
		t.Fatalf("userinfo on the first node with the second's token: %d", s)
	}
	status, a2, r2, _ := a.refreshWith(refresh)
	if status != 200 {
		t.Fatalf("refresh on the first node: %d", status)
	}
	// The code again, at the first node: a replay, which revokes the
	// family everywhere.
	if status, body, _ := a.redeem("shop:"+shopSecret, codeForm(code)); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the code replayed on the other node: %d %v", status, body)
	}
	b.refused("after a replay on the other node", a2, r2)
}

// TestLoginStateSurvivesARestart: the store closed and opened again (a
// node restarted, or killed: every write is committed before it is
// answered) keeps a login in progress, a code not yet redeemed and the
// refresh tokens, for a gateway that remembers nothing itself.
func TestLoginStateSurvivesARestart(t *testing.T) {
	f := newTokenFixture(t)
	path := filepath.Join(t.TempDir(), "state.db")
	clock := f.clock.now
	open := func() *embedded.Store {
		s, err := embedded.Open(path, state.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	f.g.cfg.Store = s
	f.g.makeTables()

	access, refresh := f.tokens("before")
	pending := "pending"
	do(t, f.app, "GET", authorizeURL("state", pending), nil)
	unredeemed := f.code("state", "unredeemed")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	cfg := f.g.cfg
	cfg.Store = s
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.now = clock
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	if c, ok := bindingJar.Load(f.app); ok {
		bindingJar.Store(app, c)
	}
	after := &tokenFixture{t: t, g: g, app: app, clock: f.clock}

	if s, _, _, _ := after.get("/userinfo", "Bearer "+access); s != 200 {
		t.Fatalf("an access token from before the restart: userinfo %d", s)
	}
	if status, _, _, _ := after.refreshWith(refresh); status != 200 {
		t.Fatalf("a refresh token from before the restart: %d", status)
	}
	if status, body, _ := after.redeem("shop:"+shopSecret, codeForm(unredeemed)); status != 200 {
		t.Fatalf("a code from before the restart: %d %v", status, body)
	}
	status, loc, _ := do(t, app, "GET", authorizeURL("state", pending), nil)
	if status != 302 || redirectParams(t, loc).Get("code") == "" {
		t.Fatalf("a login begun before the restart, re-polled after: %d %q", status, loc)
	}
	// Expiry holds across it too: past the code's lifetime a code is gone.
	late := after.code("state", "late")
	f.clock.advance(codeTTL + time.Second)
	if status, _, _ := after.redeem("shop:"+shopSecret, codeForm(late)); status != 400 {
		t.Fatalf("an expired code: %d", status)
	}
}
