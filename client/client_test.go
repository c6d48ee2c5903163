package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminDo: JSON goes as JSON and a reader as CSV, both with the bearer
// token; a 2xx answer is decoded, any other comes back as an *APIError
// holding the problem, bad lines included.
func TestAdminDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		switch r.URL.Path {
		case "/v1/scopes/openid":
			if r.Header.Get("Content-Type") != "application/json" || string(body) != `{"name":"openid"}` {
				t.Errorf("JSON body: %q as %q", body, r.Header.Get("Content-Type"))
			}
			w.Write([]byte(`{"name":"openid","create_index":7}`))
		case "/v1/ranges/import":
			if r.Header.Get("Content-Type") != "text/csv" || string(body) != "prefix,operator\n+4479,red\n" {
				t.Errorf("CSV body: %q as %q", body, r.Header.Get("Content-Type"))
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			w.Write([]byte(`{"type":"https://mcfed.dev/problems/invalid","title":"Bad Request","status":400,` +
				`"detail":"line 2: no such operator","errors":[{"line":2,"detail":"no such operator"}]}`))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	admin := &Admin{Base: srv.URL + "/", Token: "tok"}

	var scope struct {
		Name        string `json:"name"`
		CreateIndex int    `json:"create_index"`
	}
	if err := admin.Do(ctx, "PUT", "/v1/scopes/openid", map[string]string{"name": "openid"}, &scope); err != nil || scope.CreateIndex != 7 {
		t.Fatalf("PUT: %+v, %v", scope, err)
	}

	err := admin.Do(ctx, "POST", "/v1/ranges/import", strings.NewReader("prefix,operator\n+4479,red\n"), nil)
	var api *APIError
	if !errors.As(err, &api) || api.Status != 400 || api.ContentType != "application/problem+json" ||
		len(api.Problem.Errors) != 1 || api.Problem.Errors[0].Line != 2 || !strings.Contains(err.Error(), "no such operator") {
		t.Fatalf("import: %#v", err)
	}

	err = (&Admin{Base: srv.URL}).Do(ctx, "GET", "/v1/scopes/openid", nil, nil)
	if !errors.As(err, &api) || api.Status != 401 {
		t.Fatalf("without the token: %v", err)
	}
}

// TestReadDevInfo reads what `mcfed dev` writes, and refuses a JSON file
// that describes no dev federation.
func TestReadDevInfo(t *testing.T) {
	dir := t.TempDir()
	want := DevInfo{DiscoveryURL: "http://127.0.0.1:1/v2/discovery", AdminToken: "tok",
		Nodes:   []DevNodeInfo{{ID: "node-uk", DiscoveryURL: "http://127.0.0.1:1/v2/discovery"}},
		SP:      DevSPInfo{ClientID: "demo-sp", Scopes: []string{"openid"}},
		Handset: DevHandsetInfo{APIURL: "http://127.0.0.1:2/handset"}}
	b, _ := json.Marshal(want)
	good := filepath.Join(dir, DevInfoFile)
	if err := os.WriteFile(good, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDevInfo(good)
	if err != nil || got.Nodes[0].ID != "node-uk" || got.SP.ClientID != "demo-sp" || got.AdminToken != "tok" {
		t.Fatalf("%+v, %v", got, err)
	}
	if u := got.Handset.MessagesURL("+447400123456"); u != "http://127.0.0.1:2/handset/447400123456/messages" {
		t.Fatalf("inbox URL %s", u)
	}

	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"name":"not a dev federation"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDevInfo(other); err == nil {
		t.Fatal("a JSON file without nodes was read as a dev federation")
	}
}

// TestDiscoveryLinks: rels are matched whatever their case, as the SDKs do.
func TestDiscoveryLinks(t *testing.T) {
	var a DiscoveryAnswer
	err := json.Unmarshal([]byte(`{"subscriber_id":"x","response":{"serving_operator":"Red","apis":{"operatorid":{"link":[`+
		`{"rel":"Authorization","href":"https://red.example/authorize"},{"rel":"token","href":"https://red.example/token"}]}}}}`), &a)
	if err != nil {
		t.Fatal(err)
	}
	links := a.Links()
	if links["authorization"] != "https://red.example/authorize" || links["token"] != "https://red.example/token" || len(links) != 2 {
		t.Fatalf("links %v", links)
	}
}
