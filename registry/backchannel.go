package registry

import (
	"net/url"
	"strings"
)

// The OpenID CIBA token delivery modes an SP may register
// (ServiceProvider.BackchannelTokenDeliveryMode); "" is poll.
const (
	DeliveryPoll = "poll"
	DeliveryPing = "ping"
)

// checkBackchannel checks an SP's server-initiated login fields and its
// request_uris. They are newer than any log, so the strict rule applies in
// the replicated apply too: the gateway POSTs results to these URLs with a
// bearer token, or fetches request objects from them, so they are https,
// or plain http to a loopback host (development).
func (sp *ServiceProvider) checkBackchannel() error {
	if len(sp.NotificationURIs) > 16 {
		return invalidf("at most 16 notification_uris")
	}
	for _, u := range sp.NotificationURIs {
		if err := CheckNotificationURI("notification_uri", u); err != nil {
			return err
		}
	}
	if len(sp.RequestURIs) > 16 {
		return invalidf("at most 16 request_uris")
	}
	for _, u := range sp.RequestURIs {
		if err := CheckNotificationURI("request_uri", u); err != nil {
			return err
		}
	}
	switch sp.BackchannelTokenDeliveryMode {
	case "", DeliveryPoll:
		if sp.BackchannelClientNotificationEndpoint != "" {
			return invalidf("backchannel_client_notification_endpoint is for the ping mode: set backchannel_token_delivery_mode to ping")
		}
	case DeliveryPing:
		if sp.BackchannelClientNotificationEndpoint == "" {
			return invalidf("backchannel_token_delivery_mode ping needs backchannel_client_notification_endpoint")
		}
		return CheckNotificationURI("backchannel_client_notification_endpoint", sp.BackchannelClientNotificationEndpoint)
	default:
		return invalidf("backchannel_token_delivery_mode %q: use poll or ping", sp.BackchannelTokenDeliveryMode)
	}
	return nil
}

// CheckNotificationURI is the rule of a URL the gateway notifies an SP at
// (what names it: the field, for the error): absolute, https or plain http
// to a loopback host, no fragment, no userinfo, no wildcard. Where it may
// connect is checked again when it does (no internal addresses).
func CheckNotificationURI(what, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || len(raw) > 2048 || strings.ContainsAny(raw, " \t\r\n*#"):
		return invalidf("%s %q must be an absolute URL without a fragment or wildcard", what, raw)
	case u.User != nil:
		return invalidf("%s %q: userinfo (user@host) is not allowed", what, raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
			return nil
		}
	}
	return invalidf("%s %q must be https (plain http only to a loopback host)", what, raw)
}
