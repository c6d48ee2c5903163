package e2e

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
)

// signFresh signs claims as the client iss does a request object or a
// client assertion: issued now, expiring in a minute, a jti of its own.
func signFresh(t *testing.T, key *jose.Key, iss string, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	claims["iss"], claims["iat"], claims["exp"], claims["jti"] = iss, now.Unix(), now.Add(time.Minute).Unix(), randomHex(12)
	tok, err := jose.Sign(key, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// postForm posts form to endpoint and returns the status and the JSON
// answer (nil when it is not JSON).
func postForm(t *testing.T, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := httpClient.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
