package registry

import (
	"strings"
	"testing"
)

func TestSPBackchannelFields(t *testing.T) {
	base := func() ServiceProvider {
		return ServiceProvider{ClientID: "till", Name: "Till", SecretHash: HashSecret(strings.Repeat("s", 40)),
			RedirectURIs: []string{"https://till.example/cb"}, Status: StatusActive}
	}
	for _, c := range []struct {
		name string
		edit func(*ServiceProvider)
		bad  string // "" when valid
	}{
		{"none", func(*ServiceProvider) {}, ""},
		{"https notification URI", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"https://till.example/si"} }, ""},
		{"loopback http", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"http://127.0.0.1:9000/si"} }, ""},
		{"plain http", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"http://till.example/si"} }, "must be https"},
		{"fragment", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"https://till.example/si#x"} }, "fragment"},
		{"userinfo", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"https://u@till.example/si"} }, "userinfo"},
		{"relative", func(sp *ServiceProvider) { sp.NotificationURIs = []string{"/si"} }, "absolute"},
		{"poll", func(sp *ServiceProvider) { sp.BackchannelTokenDeliveryMode = DeliveryPoll }, ""},
		{"ping", func(sp *ServiceProvider) {
			sp.BackchannelTokenDeliveryMode, sp.BackchannelClientNotificationEndpoint = DeliveryPing, "https://till.example/ping"
		}, ""},
		{"ping without endpoint", func(sp *ServiceProvider) { sp.BackchannelTokenDeliveryMode = DeliveryPing }, "needs backchannel_client_notification_endpoint"},
		{"endpoint without ping", func(sp *ServiceProvider) { sp.BackchannelClientNotificationEndpoint = "https://till.example/ping" }, "is for the ping mode"},
		{"push", func(sp *ServiceProvider) { sp.BackchannelTokenDeliveryMode = "push" }, "use poll or ping"},
		{"https request URI", func(sp *ServiceProvider) { sp.RequestURIs = []string{"https://till.example/ro/1"} }, ""},
		{"plain http request URI", func(sp *ServiceProvider) { sp.RequestURIs = []string{"http://till.example/ro"} }, "must be https"},
		{"request URI with a wildcard", func(sp *ServiceProvider) { sp.RequestURIs = []string{"https://till.example/ro/*"} }, "wildcard"},
		{"17 request URIs", func(sp *ServiceProvider) { sp.RequestURIs = make([]string, 17) }, "at most 16 request_uris"},
	} {
		sp := base()
		c.edit(&sp)
		err := sp.Validate()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.bad)
		}
	}
}
