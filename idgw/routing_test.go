package idgw

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// stubAuthenticator stands for a real one in routing tests: routing never
// calls it.
type stubAuthenticator struct{}

func (stubAuthenticator) Start(context.Context, Challenge) (Started, error) { return Started{}, nil }
func (stubAuthenticator) Check(context.Context, []byte, url.Values) (Outcome, error) {
	return Outcome{}, nil
}

func testRouter(t *testing.T) *Router {
	t.Helper()
	r, err := NewRouter(
		Registration{AuthenticatorInfo{Name: "sim-pin", LoA: 3, AMR: []string{"SIM_PIN"}, Enrolment: "sim-applet"}, stubAuthenticator{}},
		Registration{AuthenticatorInfo{Name: "fido", LoA: 4, AMR: []string{"FIDO"}, Enrolment: "fido"}, stubAuthenticator{}},
		Registration{AuthenticatorInfo{Name: "sms-url", LoA: 2, AMR: []string{"SMS_URL_OK"}}, stubAuthenticator{}},
		Registration{AuthenticatorInfo{Name: "sms-otp", LoA: 2, AMR: []string{"OTP_OK"}}, stubAuthenticator{}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(c []registeredAuthenticator) string {
	var n []string
	for _, a := range c {
		n = append(n, a.Name)
	}
	return strings.Join(n, " ")
}

func TestRoutingByLoAEnrolmentAndOrder(t *testing.T) {
	r := testRouter(t)
	for _, tc := range []struct {
		acr        []int
		enrolments []string
		want       string
	}{
		// LoA 2 for a subscriber with nothing enrolled: SMS, in the
		// operator's order.
		{[]int{2}, nil, "sms-url sms-otp"},
		// LoA 2 with a SIM applet: the operator prefers it, SMS falls back.
		{[]int{2}, []string{"sim-applet"}, "sim-pin sms-url sms-otp"},
		// "3 2": LoA 3 first (the applet), then what reaches 2.
		{[]int{3, 2}, []string{"sim-applet"}, "sim-pin sms-url sms-otp"},
		// LoA 3 only, without an enrolment that reaches it: nothing fits.
		{[]int{3}, nil, ""},
		// LoA 3 with FIDO enrolled: FIDO (LoA 4) meets it.
		{[]int{3}, []string{"fido"}, "fido"},
		// "4 2" with both: FIDO first, then every LoA 2 route.
		{[]int{4, 2}, []string{"fido", "sim-applet"}, "fido sim-pin sms-url sms-otp"},
	} {
		if got := names(r.Candidates(tc.acr, tc.enrolments)); got != tc.want {
			t.Errorf("acr %v, enrolments %v: %q, want %q", tc.acr, tc.enrolments, got, tc.want)
		}
	}
}

func TestRouterRefusesBadRegistrations(t *testing.T) {
	for _, bad := range [][]Registration{
		{{AuthenticatorInfo{Name: "x", LoA: 1}, stubAuthenticator{}}},
		{{AuthenticatorInfo{Name: "", LoA: 2}, stubAuthenticator{}}},
		{{AuthenticatorInfo{Name: "x", LoA: 2}, nil}},
		{{AuthenticatorInfo{Name: "x", LoA: 2}, stubAuthenticator{}}, {AuthenticatorInfo{Name: "x", LoA: 3}, stubAuthenticator{}}},
	} {
		if _, err := NewRouter(bad...); err == nil {
			t.Errorf("NewRouter accepted %+v", bad)
		}
	}
}

// pagedDecoy is an authenticator with pages and a decoy, as SMS is.
type pagedDecoy struct {
	*phoneAuthenticator
	decoys int
}

func (p *pagedDecoy) Mount(r fiber.Router) {
	r.Get("/paged/page", func(c *fiber.Ctx) error { return c.SendString("its page") })
}

func (p *pagedDecoy) StartDecoy(context.Context, Challenge) (Started, error) {
	p.decoys++
	return Started{State: []byte("decoy")}, nil
}

// wrapped wraps an authenticator as the node's metrics do.
type wrapped struct{ Authenticator }

func (w wrapped) Unwrap() Authenticator { return w.Authenticator }

// TestOptionalInterfacesThroughAWrapper: an authenticator wrapped (by the
// node's metrics) keeps its pages, mounted by the gateway, and its decoy.
func TestOptionalInterfacesThroughAWrapper(t *testing.T) {
	inner := &pagedDecoy{phoneAuthenticator: newPhone()}
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "paged", LoA: 2, AMR: []string{"OTP_OK"}}, wrapped{inner}})
	if err != nil {
		t.Fatal(err)
	}
	_, app := testGatewayWith(t, testRegistry(t, "openid"), router)
	if status, _, body := get(t, app, "/paged/page"); status != 200 || string(body) != "its page" {
		t.Fatalf("the wrapped authenticator's page: %d %s", status, body)
	}
	if d := decoysOf(router.Candidates([]int{2}, nil)); len(d) != 1 {
		t.Fatalf("the wrapped authenticator's decoy is not found: %v", d)
	}
}
