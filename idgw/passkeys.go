package idgw

import (
	"context"
	"crypto/subtle"
	"fmt"
)

// PasskeyEnroller is an authenticator with credentials the person enrols
// themselves after a login (operator/fido's passkeys): the
// connected-services page offers them, and vouches for the number of its
// fresh LoA 2 session through Enrol, which answers the URL of the
// authenticator's own page where the person adds, lists and removes
// them. It is found on a registered authenticator or what it wraps
// (Wrapper), like PageServer, so the gateway imports no authenticator.
type PasskeyEnroller interface {
	Enrol(ctx context.Context, ch Challenge) (redirectURL string, err error)
}

// passkeyEnroller is the node's first authenticator that enrols passkeys,
// or nil when it runs none.
func (g *Gateway) passkeyEnroller() PasskeyEnroller {
	for _, a := range g.cfg.Router.auths {
		if e, ok := optional[PasskeyEnroller](a.impl); ok {
			return e
		}
	}
	return nil
}

// openPasskeys answers the connected-services page's "Add a passkey"
// (and "Manage your passkeys"): the browser, whose session is fresh and
// whose form carries the page's token, goes to the enroller's page for
// the session's number, and comes back to the services page.
func (g *Gateway) openPasskeys(ctx context.Context, r servicesRequest, session *browserSession) authorizeAnswer {
	if subtle.ConstantTimeCompare([]byte(r.form.Get("csrf")), []byte(servicesCSRF(r.cookies.session))) != 1 {
		return failed(ErrInvalidRequest("the page has expired; open it again").WithoutRedirect())
	}
	e := g.passkeyEnroller()
	if e == nil {
		return failed(ErrInvalidRequest("this gateway has no passkeys").WithoutRedirect())
	}
	op, err := g.operator()
	if err != nil {
		return failed(errOperatorUnregistered(err).WithoutRedirect())
	}
	u, err := e.Enrol(ctx, Challenge{MSISDN: session.msisdn, SPName: LookOf(op).Name, ReturnURL: g.paths.services,
		Browser: true, Operator: LookOf(op), Number: MaskNumber(session.msisdn), Language: r.lang})
	if err != nil {
		return failed(ErrServerError(fmt.Errorf("opening the passkeys page: %w", err)).WithoutRedirect())
	}
	return authorizeAnswer{redirect: u}
}
