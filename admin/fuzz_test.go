package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// registryCluster is the admin API's Cluster over a registry applied in
// process, as dev mode and registry's tests do without Raft: a write is
// authored by the credential it was made with (the registry's own), the
// way the leader wraps it, so the registry judges it as it would in a
// federation.
type registryCluster struct {
	reg   *registry.Registry
	index uint64
}

func (r *registryCluster) Registry() *registry.Registry { return r.reg }

func (r *registryCluster) Apply(ctx context.Context, p raft.Presented, cmd []byte) (uint64, error) {
	cred := r.reg.Credential(p.Credential)
	if cred == nil || !cred.CheckSecret(p.Secret) {
		return 0, raft.ErrUnauthenticated
	}
	env, err := registry.EncodeAuthored(registry.Header{Author: registry.AuthorOf(cred), Time: 1_800_000_000_000}, cmd)
	if err != nil {
		return 0, err
	}
	r.index++
	return r.index, r.reg.Apply(r.index, env)
}

func (r *registryCluster) ReadIndex(context.Context) error { return nil }

func (r *registryCluster) Update(ctx context.Context, p raft.Presented, build func(*registry.Registry) ([]byte, error)) (bool, error) {
	cmd, err := build(r.reg)
	if err != nil || cmd == nil {
		return false, err
	}
	_, err = r.Apply(ctx, p, cmd)
	return err == nil, err
}

func (r *registryCluster) IsLeader() bool                   { return true }
func (r *registryCluster) Status(time.Duration) raft.Status { return raft.Status{} }
func (r *registryCluster) RemoveServer(string) error        { return nil }
func (r *registryCluster) LeadershipTransfer() error        { return nil }
func (r *registryCluster) Mount(fiber.Router, *slog.Logger) {}

const (
	fuzzNodeToken = "fuzz-node-admin-token-0123456789"
	fuzzRedAdmin  = "redadmin1"
)

// fuzzAPI is an admin API over a registry holding operators red and
// blue with a range each, the openid scope, an SP, the node's admin token
// as federation admin and an operator admin of red.
func fuzzAPI(t testing.TB) *fiber.App {
	reg := registry.New()
	creds := registry.CredentialBatch{Credentials: []registry.Credential{
		{ID: registry.AdminCredentialID("n1"), Kind: registry.KindAdmin, Role: registry.RoleFederationAdmin, Node: "n1", Verifier: registry.HashSecret(fuzzNodeToken)},
		{ID: fuzzRedAdmin, Kind: registry.KindAdmin, Role: registry.RoleOperatorAdmin, Operator: "red",
			Verifier: registry.HashSecret(registry.IssuedToken(fuzzRedAdmin, "secret"))},
	}}
	for i, cmd := range [][]byte{
		registry.MustEncode(registry.CmdPutCredentials, creds),
		registry.MustEncode(registry.CmdPutOperator, registry.Operator{ID: "red", Name: "Red", Country: "GB", Currency: "GBP",
			Networks: []string{"234_10"}, Issuer: "https://red.example/", Status: registry.StatusActive}),
		registry.MustEncode(registry.CmdPutOperator, registry.Operator{ID: "blue", Name: "Blue", Country: "GB", Currency: "GBP",
			Networks: []string{"234_20"}, Issuer: "https://blue.example/", Status: registry.StatusActive}),
		registry.MustEncode(registry.CmdPutRanges, registry.RangeBatch{Ranges: []registry.Range{
			{Prefix: "+447400", Operator: "red"}, {Prefix: "+447500", Operator: "blue"}}}),
		registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "openid"}),
		registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{ClientID: "shop", Name: "Shop", SecretHash: registry.HashSecret("s"),
			RedirectURIs: []string{"https://shop.example/cb"}, Operators: []string{registry.AllOperators}, Status: registry.StatusActive}),
	} {
		if err := reg.Apply(uint64(i+1), cmd); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{NodeID: "n1", AdminToken: fuzzNodeToken, MaxBodyBytes: 1 << 20, MaxImportBytes: 1 << 20,
		Cluster: &registryCluster{reg: reg, index: 6}, Observe: func(c *fiber.Ctx) error { return c.Next() },
		Metrics: func(c *fiber.Ctx) error { return nil }, Log: slog.New(slog.DiscardHandler)})
}

// fuzzWrites are the admin API's JSON writes: every body goes through
// readJSON, the handler's checks, then the registry's.
var fuzzWrites = []struct{ method, path, seed string }{
	{"POST", "/v1/operators", `{"id":"green","name":"Green","country":"GB","currency":"GBP","networks":["234_30"],"issuer":"https://green.example/"}`},
	{"PUT", "/v1/operators/red", `{"name":"Red","country":"GB","currency":"GBP","networks":["234_10"],"issuer":"https://red.example/","status":"suspended"}`},
	{"PUT", "/v1/ranges/%2B447401", `{"operator":"red"}`},
	{"PUT", "/v1/ported/+447400123456", `{"operator":"red"}`},
	{"POST", "/v1/ip-ranges", `{"cidr":"10.0.0.0/8","operator":"red"}`},
	{"PUT", "/v1/scopes/openid", `{"name":"openid","description":"sign in"}`},
	{"PUT", "/v1/products/p1", `{"id":"p1","name":"Login","scopes":["openid"],"min_loa":2}`},
	{"POST", "/v1/service-providers", `{"client_id":"bank","name":"Bank","redirect_uris":["https://bank.example/cb"],"client_secret":"0123456789abcdef0123456789abcdef"}`},
	{"PUT", "/v1/service-providers/shop", `{"name":"Shop","redirect_uris":["com.example.shop:/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://shop.example/jwks"}`},
	{"PUT", "/v1/operators/red/sp-policies/shop", `{"declined":false,"scopes":["openid"]}`},
	{"POST", "/v1/credentials", `{"role":"operator-admin","operator":"red","name":"red's admin"}`},
	{"POST", "/v1/port-requests", `{"numbers":["+447500123456"]}`},
	{"PUT", "/v1/porting-rules", `{"max_deadline_hours":48,"on_deadline":"accept"}`},
	{"POST", "/v1/cluster/join-tokens", `{"node_id":"n2","operator":"red","ttl_seconds":600}`},
	{"POST", "/v1/disputes/d1/settle", `{"award":"red"}`},
	{"PUT", "/v1/audit/retention", `{"retention_days":120}`},
}

// FuzzAdminJSON: any body at any of the admin API's JSON writes, by the
// federation admin or an operator's admin, is answered (never a panic,
// never a 500): a 2xx with a JSON body, or a 4xx problem+json saying
// what is wrong. A 500 would be an error no handler mapped, or a command
// the registry could not read.
func FuzzAdminJSON(f *testing.F) {
	for i, w := range fuzzWrites {
		f.Add(uint8(i), false, []byte(w.seed))
		f.Add(uint8(i), true, []byte(w.seed))
	}
	f.Add(uint8(0), false, []byte(`{"id":"x"} {"id":"y"}`))
	f.Add(uint8(7), false, []byte(`{"client_id":"x","secret_hash":"sha256:00"}`))
	f.Add(uint8(2), false, []byte(`{"operator":"red","extra":1}`))
	f.Add(uint8(11), true, []byte(`{"numbers":["+4474001234567890123"],"deadline_hours":-1e308}`))
	f.Fuzz(func(t *testing.T, route uint8, operatorAdmin bool, body []byte) {
		w := fuzzWrites[int(route)%len(fuzzWrites)]
		app := fuzzAPI(t)
		req := httptest.NewRequest(w.method, w.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		token := fuzzNodeToken
		if operatorAdmin {
			token = registry.IssuedToken(fuzzRedAdmin, "secret")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		// A bounded wait: an answer that never comes fails with its input.
		resp, err := app.Test(req, 10_000)
		if err != nil {
			t.Fatalf("%s %s %q: %v", w.method, w.path, body, err)
		}
		out, _ := io.ReadAll(resp.Body)
		ct := resp.Header.Get("Content-Type")
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("%s %s %q: %d %s", w.method, w.path, body, resp.StatusCode, out)
		case resp.StatusCode >= 400:
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if ct != "application/problem+json" || json.Unmarshal(out, &p) != nil || p.Status != resp.StatusCode || p.Detail == "" {
				t.Fatalf("%s %s %q: %d answered as %q: %s", w.method, w.path, body, resp.StatusCode, ct, out)
			}
		case resp.StatusCode != 204 && !json.Valid(out):
			t.Fatalf("%s %s %q: %d with a body that is not JSON: %s", w.method, w.path, body, resp.StatusCode, out)
		}
	})
}
