package idgw

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// Delivering a server-initiated login's result to the SP: Mobile Connect
// SI pushes the tokens (or the error) to the request's notification_uri;
// CIBA's ping mode tells the client notification endpoint that the
// auth_req_id is ready. Both POST JSON with Authorization: Bearer
// <client_notification_token>.
//
// The URL is the SP's, so it is reached as a jwks_uri is (jwksfetch.go):
// https to public addresses only, every address checked after resolution,
// no proxy, no redirects; plain http and loopback only for a loopback
// deployment. A delivery the SP does not acknowledge with 2xx is tried
// again with back-off (notifyBackoff) until bcMaxAttempts or the record's
// end; once one is acknowledged, no other is made. Pushed tokens are
// issued for each attempt and revoked when it fails, so the store never
// holds a live token and only the acknowledged set works.

const notifyTimeout = 5 * time.Second

// notifyBackoff is the wait after the nth failed delivery: 1 s, 2 s,
// 4 s, ... up to five minutes.
func notifyBackoff(n int) time.Duration {
	d := time.Second << min(n-1, 9)
	return min(d, 5*time.Minute)
}

// siResult is the body of a Mobile Connect SI notification.
type siResult struct {
	AuthReqID        string    `json:"auth_req_id"`
	AccessToken      string    `json:"access_token,omitempty"`
	TokenType        string    `json:"token_type,omitempty"`
	ExpiresIn        int       `json:"expires_in,omitempty"`
	IDToken          string    `json:"id_token,omitempty"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	Error            ErrorCode `json:"error,omitempty"`
	ErrorDescription string    `json:"error_description,omitempty"`
	CorrelationID    string    `json:"correlation_id,omitempty"`
	State            string    `json:"state,omitempty"`
}

// notifyResult notifies the SP of login key's result, when this node can
// claim it and a delivery is due.
func (g *Gateway) notifyResult(ctx context.Context, key storeKey) {
	b, ok := g.claim(ctx, key)
	if !ok {
		return
	}
	now := g.now()
	if b.status == bcPending || b.notified || b.mode == modePoll || now.Before(b.nextNotify) {
		g.release(ctx, b)
		return
	}
	var body any
	var family *storeKey
	switch {
	case b.mode == modePing:
		body = struct {
			AuthReqID string `json:"auth_req_id"`
		}{b.id}
	case b.status == bcApproved:
		sp := g.cfg.Registry.ServiceProvider(b.req.ClientID)
		if sp == nil || sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
			b.status, b.errCode, b.errDesc = bcFailed, CodeAccessDenied, "the client may no longer use this operator"
			body = siResult{AuthReqID: b.id, Error: b.errCode, ErrorDescription: b.errDesc, CorrelationID: b.req.CorrelationID}
			break
		}
		// One redeemed-code marker per attempt, so a failed one's family
		// can be found and revoked.
		marker := fmt.Sprintf("mcfed-si\x00%s\x00%d", b.id, b.attempts)
		g.rememberPCR(ctx, b.req.ClientID, b.msisdn, b.subject.pcr)
		t, e := g.issueTokens(ctx, sp, marker, b.grant())
		if e != nil {
			g.log.Error("backchannel: issuing pushed tokens failed; tried again", "client_id", b.req.ClientID, "error", e)
			g.retryLater(ctx, b, now)
			return
		}
		if f, ok := g.used.get(ctx, tokenKey(marker)); ok {
			family = &f
		}
		body = siResult{AuthReqID: b.id, AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn,
			IDToken: t.IDToken, RefreshToken: t.RefreshToken, CorrelationID: b.req.CorrelationID, State: b.req.State}
	default:
		body = siResult{AuthReqID: b.id, Error: b.errCode, ErrorDescription: b.errDesc, CorrelationID: b.req.CorrelationID, State: b.req.State}
	}
	err := g.post(ctx, b.notifyURI, b.notifyToken, body)
	if err != nil {
		g.log.Info("backchannel: the SP's notification endpoint did not acknowledge; tried again",
			"client_id", b.req.ClientID, "correlation_id", b.req.CorrelationID, "attempt", b.attempts+1, "error", err)
		if family != nil {
			g.revokeFamily(ctx, *family)
		}
		g.retryLater(ctx, b, now)
		return
	}
	if b.mode == modePush {
		// Delivered: the login is over. Ending it under the lease is the
		// record that no other delivery is made.
		g.finish(ctx, b)
		return
	}
	b.notified = true
	g.release(ctx, b)
}

// retryLater counts a failed delivery of b and schedules the next, or
// gives up after bcMaxAttempts.
func (g *Gateway) retryLater(ctx context.Context, b *bcLogin, now time.Time) {
	b.attempts++
	b.nextNotify = now.Add(notifyBackoff(b.attempts))
	if b.attempts >= bcMaxAttempts {
		g.log.Warn("backchannel: the SP's notification endpoint never acknowledged; the result is dropped",
			"client_id", b.req.ClientID, "correlation_id", b.req.CorrelationID, "attempts", b.attempts)
		if b.mode == modePush {
			g.finish(ctx, b)
			return
		}
		b.notified = true // ping: the SP may still poll
	}
	g.release(ctx, b)
}

// post POSTs body as JSON to the SP's URL raw with the bearer token,
// where the gateway may connect (the jwks_uri rules). Only a 2xx answer
// is an acknowledgement.
func (g *Gateway) post(ctx context.Context, raw, bearer string, body any) error {
	f := g.jwksFetcher()
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if err := checkJWKSURL(u, f.local); err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
