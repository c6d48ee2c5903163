package discovery

import (
	"encoding/json"
	"testing"

	"github.com/mcfed/mcfed/internal/spsecret"
)

func TestTelcoFinder(t *testing.T) {
	s := startServer(t, testRegistry(t))
	search := func(auth, body string) *result {
		return s.raw(t, withBody([]string{"POST /telco-finder/v1/search HTTP/1.1", "Host: x", "Authorization: " + auth,
			"Content-Type: application/json", "x-correlator: tf-123"}, body)...)
	}
	good := basic(shopID, shopSecret)
	for name, tc := range map[string]struct {
		body string
		want telcoFinderResponse
	}{
		"number, operator id only": {`{"target":{"phoneNumber":"+447911123456"}}`, telcoFinderResponse{OperatorID: "red"}},
		"ported number, everything": {`{"target":{"phoneNumber":"+447911123457"},"includeApiRoot":true,"includeAuthProviderConfiguration":true,"portabilitySearchMode":"SHALLOW"}`,
			telcoFinderResponse{OperatorID: "blue", APIRoot: "https://blue.example/oidc", AuthProviderConfiguration: "https://blue.example/oidc/.well-known/openid-configuration"}},
		"ipv4": {`{"target":{"ipv4Address":{"publicAddress":"203.0.113.10","publicPort":59765}},"includeApiRoot":true}`,
			telcoFinderResponse{OperatorID: "red", APIRoot: "https://red.example/oidc"}},
		"ipv6 string": {`{"target":{"ipv6Address":"2001:db8:20::7"},"includeAuthProviderConfiguration":true}`,
			telcoFinderResponse{OperatorID: "blue", AuthProviderConfiguration: "https://blue.example/oidc/.well-known/openid-configuration"}},
		"ipv6 object": {`{"target":{"ipv6Address":{"publicAddress":"2001:db8:20::7"}}}`, telcoFinderResponse{OperatorID: "blue"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := search(good, tc.body)
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("x-correlator") != "tf-123" {
				t.Fatalf("status %d, headers %v: %s", r.status, r.header, r.body)
			}
			var got telcoFinderResponse
			if err := json.Unmarshal(r.body, &got); err != nil || got != tc.want {
				t.Errorf("answer %s, want %+v", r.body, tc.want)
			}
			if m := r.object(t); (tc.want.APIRoot == "") == (m["apiRoot"] != nil) {
				t.Errorf("apiRoot present %v, asked for %v", m["apiRoot"] != nil, tc.want.APIRoot != "")
			}
		})
	}
	for name, tc := range map[string]struct {
		auth, body string
		status     int
		code       string
	}{
		"no member's number":       {good, `{"target":{"phoneNumber":"+447400123456"}}`, 404, "NOT_FOUND"},
		"member not taking the SP": {good, `{"target":{"phoneNumber":"+33612345678"}}`, 404, "NOT_FOUND"},
		"suspended member":         {good, `{"target":{"phoneNumber":"+447931123456"}}`, 404, "NOT_FOUND"},
		"address of no member":     {good, `{"target":{"ipv4Address":{"publicAddress":"192.0.2.1"}}}`, 404, "NOT_FOUND"},
		"national number":          {good, `{"target":{"phoneNumber":"07911123456"}}`, 400, "INVALID_ARGUMENT"},
		"invalid number":           {good, `{"target":{"phoneNumber":"+447700900123"}}`, 400, "INVALID_ARGUMENT"},
		"two targets":              {good, `{"target":{"phoneNumber":"+447911123456","ipv4Address":{"publicAddress":"203.0.113.10"}}}`, 400, "INVALID_ARGUMENT"},
		"no target":                {good, `{"target":{}}`, 400, "INVALID_ARGUMENT"},
		"ipv6 in ipv4":             {good, `{"target":{"ipv4Address":{"publicAddress":"2001:db8::1"}}}`, 400, "INVALID_ARGUMENT"},
		"bad search mode":          {good, `{"target":{"phoneNumber":"+447911123456"},"portabilitySearchMode":"WIDE"}`, 400, "INVALID_ARGUMENT"},
		"not JSON":                 {good, `target=+447911123456`, 400, "INVALID_ARGUMENT"},
		"wrong secret":             {basic(shopID, "wrong"), `{"target":{"phoneNumber":"+447911123456"}}`, 401, "UNAUTHENTICATED"},
		"an operator's secret":     {basic(shopID, spsecret.OperatorSecret(shopSecret, shopID, "red")), `{"target":{"phoneNumber":"+447911123456"}}`, 401, "UNAUTHENTICATED"},
		"no credentials":           {"", `{"target":{"phoneNumber":"+447911123456"}}`, 401, "UNAUTHENTICATED"},
	} {
		t.Run(name, func(t *testing.T) {
			r := search(tc.auth, tc.body)
			var e camaraError
			if err := json.Unmarshal(r.body, &e); err != nil || r.status != tc.status || e.Status != tc.status || e.Code != tc.code || e.Message == "" {
				t.Errorf("status %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
}
