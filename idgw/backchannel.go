package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
)

// OpenID Connect Back-Channel Logout 1.0: when a person's session at an
// SP ends at the gateway (a logout, a consent withdrawn), the SP is told
// by a logout token POSTed to its registered backchannel_logout_uri. The
// deliveries wait in the operator's state store (kind
// idgw.logout-delivery), so a restart or the loss of a node loses none:
// every gateway node runs DeliverLogouts, which claims a due delivery for
// a while (a lease, so two nodes do not both send it, and a node that dies
// holding one leaves it to another), POSTs it, and removes it once the SP
// answered 200 or 204, or retries with back-off until logoutDeliveryTTL.
// The token is signed at each attempt (a fresh iat and a short exp), with
// the same jti, so an SP can tell a retry from a new logout.

const (
	logoutDeliveryKind state.Kind = "idgw.logout-delivery"
	// logoutDeliveryTTL is how long a delivery is retried: after a day
	// an SP down that long has lost its sessions' context anyway, and the
	// tokens behind them were revoked at the gateway when it was queued.
	logoutDeliveryTTL = 24 * time.Hour
	// logoutLease is how long a node holds a delivery it claimed.
	logoutLease = 30 * time.Second
	// logoutBackoffMax caps the wait between two attempts.
	logoutBackoffMax = 10 * time.Minute
	// logoutTokenTTL is a logout token's life from its signing.
	logoutTokenTTL = 2 * time.Minute
	// logoutPoll is how often a node looks for due deliveries when it is
	// not woken by one it queued itself.
	logoutPoll = time.Second
	// backchannelLogoutEvent is the events member of a logout token.
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
)

// logoutDelivery is one pending logout token: to whom, about what, and
// how its delivery stands.
type logoutDelivery struct {
	ClientID string    `json:"c"`
	Sub      string    `json:"u,omitempty"`
	SID      string    `json:"s,omitempty"`
	JTI      string    `json:"j"`
	Attempts int       `json:"n"`
	Next     time.Time `json:"t"` // not before: a retry's time, or the lease's end
}

// logoutClaims are a logout token's claims (§2.4): no nonce, an events
// member, sub and/or sid.
type logoutClaims struct {
	Iss    string                     `json:"iss"`
	Sub    string                     `json:"sub,omitempty"`
	Aud    []string                   `json:"aud"`
	Iat    int64                      `json:"iat"`
	Exp    int64                      `json:"exp"`
	JTI    string                     `json:"jti"`
	Events map[string]json.RawMessage `json:"events"`
	Sid    string                     `json:"sid,omitempty"`
}

// notifyLogout queues a logout token for clientID about subscriber
// msisdn: one per session in sids, naming it and the subject (the
// subscriber's PCR at the SP); without sids, one naming the subject only
// (all the subject's sessions at the SP), unless the SP requires a sid.
// Nothing is queued for an SP without a back-channel logout URI.
func (g *Gateway) notifyLogout(ctx context.Context, msisdn uint64, clientID string, sids []string) {
	sp := g.cfg.Registry.ServiceProvider(clientID)
	if sp == nil || sp.BackchannelLogoutURI == "" {
		return
	}
	var sub string
	if secret, err := g.cfg.Subscribers.PCRSecret(ctx, msisdn); err == nil {
		sub = pcr(secret, clientID)
	}
	if len(sids) == 0 {
		if sub == "" || sp.BackchannelLogoutSessionRequired {
			return
		}
		sids = []string{""}
	}
	for _, sid := range sids {
		if sid == "" && sub == "" {
			continue
		}
		g.queueLogout(ctx, logoutDelivery{ClientID: clientID, Sub: sub, SID: sid, JTI: newSecret()})
	}
}

// queueLogout stores d for delivery and wakes this node's delivery loop.
func (g *Gateway) queueLogout(ctx context.Context, d logoutDelivery) {
	d.Next = g.now()
	b, err := json.Marshal(d)
	if err == nil {
		err = g.cfg.Store.Put(ctx, logoutDeliveryKind, []byte(d.JTI), b, g.now().Add(logoutDeliveryTTL))
	}
	if err != nil {
		g.log.Error("back-channel logout: queueing a logout token failed", "client_id", d.ClientID, "error", err)
		return
	}
	select {
	case g.logoutWake <- struct{}{}:
	default:
	}
}

// DeliverLogouts delivers the queued logout tokens until ctx ends: each
// node of the operator runs it (the node's start does).
func (g *Gateway) DeliverLogouts(ctx context.Context) {
	t := time.NewTicker(logoutPoll)
	defer t.Stop()
	for {
		g.deliverDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.logoutWake:
		}
	}
}

// deliverDue delivers every queued logout token whose time has come.
func (g *Gateway) deliverDue(ctx context.Context) {
	var after []byte
	for ctx.Err() == nil {
		es, err := g.cfg.Store.Scan(ctx, logoutDeliveryKind, nil, after, 100)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Error("back-channel logout: reading the queue failed", "error", err)
			}
			return
		}
		now := g.now()
		for _, e := range es {
			// Skip what the scan shows is not due, without a write; the
			// claim checks again under the record's lock.
			var seen logoutDelivery
			if json.Unmarshal(e.Value, &seen) == nil && seen.Next.After(now) {
				continue
			}
			if d, ok := g.claimDelivery(ctx, e.Key); ok {
				g.deliver(ctx, e.Key, d)
			}
		}
		if len(es) < 100 {
			return
		}
		after = es[len(es)-1].Key
	}
}

var errNotDue = errors.New("idgw: delivery not due")

// claimDelivery takes the delivery under key for logoutLease when it is
// due: of the nodes that look at once, one gets it.
func (g *Gateway) claimDelivery(ctx context.Context, key []byte) (logoutDelivery, bool) {
	var d logoutDelivery
	now := g.now()
	_, err := g.cfg.Store.Update(ctx, logoutDeliveryKind, key, func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, errNotDue
		}
		if err := json.Unmarshal(old.Value, &d); err != nil {
			return state.Record{}, err
		}
		if d.Next.After(now) {
			return state.Record{}, errNotDue
		}
		d.Attempts++
		d.Next = now.Add(logoutLease)
		b, err := json.Marshal(d)
		return state.Record{Value: b, Expires: old.Expires}, err
	})
	if err != nil && !errors.Is(err, errNotDue) {
		g.log.Error("back-channel logout: claiming a delivery failed", "error", err)
	}
	return d, err == nil
}

// deliver sends d and removes it, or schedules its next attempt.
func (g *Gateway) deliver(ctx context.Context, key []byte, d logoutDelivery) {
	err, retry := g.sendLogout(ctx, d)
	if err == nil || !retry {
		if err != nil {
			g.log.Warn("back-channel logout: a logout token was not accepted; not retried", "client_id", d.ClientID, "error", err)
		}
		if err := g.cfg.Store.Delete(ctx, logoutDeliveryKind, key); err != nil {
			g.log.Error("back-channel logout: removing a delivered token failed", "error", err)
		}
		return
	}
	wait := min(time.Second<<min(d.Attempts-1, 20), logoutBackoffMax)
	g.log.Info("back-channel logout: delivery failed; retrying", "client_id", d.ClientID, "attempt", d.Attempts, "in", wait, "error", err)
	_, uerr := g.cfg.Store.Update(ctx, logoutDeliveryKind, key, func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, errNotDue
		}
		d.Next = g.now().Add(wait)
		b, err := json.Marshal(d)
		return state.Record{Value: b, Expires: old.Expires}, err
	})
	if uerr != nil && !errors.Is(uerr, errNotDue) {
		g.log.Error("back-channel logout: scheduling a retry failed", "error", uerr)
	}
}

// sendLogout signs d's logout token and POSTs it to the SP's registered
// URI (where the gateway may: as for jwks_uri, public addresses only, no
// redirect followed). retry says whether trying again may help: not for
// an SP gone, without a URI or key, or that refused the token (4xx).
func (g *Gateway) sendLogout(ctx context.Context, d logoutDelivery) (err error, retry bool) {
	sp := g.cfg.Registry.ServiceProvider(d.ClientID)
	if sp == nil || sp.BackchannelLogoutURI == "" {
		return errors.New("the SP is gone or has no backchannel_logout_uri"), false
	}
	o, err := g.operator()
	if err != nil {
		return err, true
	}
	alg := jose.RS256
	if sp.IDTokenAlg != "" {
		alg = jose.Alg(sp.IDTokenAlg)
	}
	key := g.cfg.Keys.Active(alg)
	if key == nil {
		return fmt.Errorf("no signing key for %s", alg), true
	}
	now := g.now()
	token, err := jose.SignTyped(key, "logout+jwt", logoutClaims{
		Iss: o.Issuer, Sub: d.Sub, Aud: []string{d.ClientID}, Iat: now.Unix(), Exp: now.Add(logoutTokenTTL).Unix(),
		JTI: d.JTI, Events: map[string]json.RawMessage{backchannelLogoutEvent: json.RawMessage("{}")}, Sid: d.SID,
	})
	if err != nil {
		return err, true
	}
	f := g.jwksFetcher()
	u, err := url.Parse(sp.BackchannelLogoutURI)
	if err != nil {
		return err, false
	}
	if err := checkJWKSURL(u, f.local); err != nil {
		return fmt.Errorf("backchannel_logout_uri %w", err), false
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sp.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err, false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		return err, true
	}
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s == http.StatusOK || s == http.StatusNoContent:
		return nil, false
	case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500:
		return fmt.Errorf("answered %d", s), true
	}
	return fmt.Errorf("answered %d", resp.StatusCode), false
}
