package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// spRedirect is the SP's registered redirect URI. Nothing listens there:
// the tests read the redirect's Location, as the SDKs' headless mode does.
const spRedirect = "https://shop.example/callback"

// sp is a service provider registered with the federation.
type sp struct {
	clientID, secret, name string
}

// spScopes are the scopes the SP asks for; the catalogue must hold them.
var spScopes = []string{"openid", "mc_authn", "profile", "email", "phone"}

// registerSP puts the catalogue's scopes and an SP through the admin API of
// a running node, as the consortium's admin onboards a shop, and returns
// the SP with the client secret the node generated.
func (f *federation) registerSP() sp {
	f.t.Helper()
	n := f.member()
	for _, s := range spScopes {
		n.mustAdmin("PUT", "/v1/scopes/"+s, map[string]string{"name": s}, nil)
	}
	s := sp{clientID: "e2e-shop", name: "Corner Shop"}
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	n.mustAdmin("PUT", "/v1/service-providers/"+s.clientID, map[string]any{"name": s.name,
		"redirect_uris": []string{spRedirect}, "scopes": spScopes}, &created)
	if created.ClientSecret == "" {
		f.t.Fatal("registering the SP showed no client secret")
	}
	s.secret = created.ClientSecret
	// Discovery authenticates the SP on whichever node it asks.
	for _, m := range f.live() {
		err := poll(replicaTimeout, func() (bool, error) {
			err := m.admin("GET", "/v1/service-providers/"+s.clientID, nil, nil)
			return err == nil, err
		})
		if err != nil {
			f.t.Fatalf("%s never learnt of the SP: %v", m.id, err)
		}
	}
	return s
}

// discoveryAnswer is the part of a discovery answer the tests read.
type discoveryAnswer struct {
	SubscriberID string `json:"subscriber_id"`
	Response     struct {
		ServingOperator string `json:"serving_operator"`
		Country         string `json:"country"`
		ClientID        string `json:"client_id"`
		ClientSecret    string `json:"client_secret"`
		APIs            struct {
			OperatorID struct {
				Link []struct {
					Rel  string `json:"rel"`
					Href string `json:"href"`
				} `json:"link"`
			} `json:"operatorid"`
		} `json:"apis"`
	} `json:"response"`
	Error       string `json:"error"`
	Description string `json:"description"`
}

// link is the href of the link with relation rel ("" when absent).
func (a discoveryAnswer) link(rel string) string {
	for _, l := range a.Response.APIs.OperatorID.Link {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// discover asks the node at base which operator serves number, as the GSMA
// Java SDK does: POST, form body, SP Basic auth, the number without "+".
func (s sp) discover(c *http.Client, base, number string) (int, discoveryAnswer, error) {
	return s.discoverWith(c, base, url.Values{"MSISDN": {strings.TrimPrefix(number, "+")}})
}

// discoverWith sends a discovery request with params (Redirect_URL added).
func (s sp) discoverWith(c *http.Client, base string, params url.Values) (int, discoveryAnswer, error) {
	params.Set("Redirect_URL", spRedirect)
	req, err := http.NewRequest("POST", base+"/v2/discovery", strings.NewReader(params.Encode()))
	if err != nil {
		return 0, discoveryAnswer{}, err
	}
	req.SetBasicAuth(s.clientID, s.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, discoveryAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, discoveryAnswer{}, err
	}
	var a discoveryAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return resp.StatusCode, a, fmt.Errorf("discovery answer %d is not JSON: %w: %.200s", resp.StatusCode, err, b)
	}
	return resp.StatusCode, a, nil
}

// mustDiscover is discover for op's subscriber, who must be found.
func (s sp) mustDiscover(t *testing.T, n *node, op demoOperator) discoveryAnswer {
	t.Helper()
	return s.mustDiscoverNumber(t, n, op.Number, op)
}

// mustDiscoverNumber is discover for a number op must be found serving.
func (s sp) mustDiscoverNumber(t *testing.T, n *node, number string, op demoOperator) discoveryAnswer {
	t.Helper()
	status, a, err := s.discover(httpClient, n.publicURL(), number)
	if err != nil || status != 200 || a.Response.ServingOperator != op.Name {
		t.Fatalf("discovery of %s on %s: %d %+v %v", number, n.id, status, a, err)
	}
	return a
}
