package idgw

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// secondCheckPhone answers on the handset between the first and second
// time it is asked: a client sees authorization_pending once, then tokens.
type secondCheckPhone struct{ checks atomic.Int32 }

func (p *secondCheckPhone) Start(context.Context, Challenge) (Started, error) {
	return Started{State: []byte("x")}, nil
}

func (p *secondCheckPhone) Check(context.Context, []byte, url.Values) (Outcome, error) {
	if p.checks.Add(1) < 2 {
		return Outcome{Status: Pending}, nil
	}
	return Outcome{Status: Succeeded}, nil
}

// TestCIBAPollWithOpenIDClient: panva's openid-client (v6, Node), a real
// CIBA client, discovers the gateway over loopback HTTP, authenticates by
// private_key_jwt, starts a backchannel login and polls the CIBA grant
// until it gets tokens, whose ID token it validates. Needs Node and
// `npm ci` in idgw/testdata/cibaclient (.ci/run does both); skipped
// without them unless MCFED_REQUIRE_NODE=1.
func TestCIBAPollWithOpenIDClient(t *testing.T) {
	dir, _ := filepath.Abs("testdata/cibaclient")
	node, err := exec.LookPath("node")
	_, statErr := os.Stat(filepath.Join(dir, "node_modules", "openid-client"))
	if err != nil || statErr != nil {
		if os.Getenv("MCFED_REQUIRE_NODE") == "1" {
			t.Fatalf("node or openid-client missing (npm ci in %s): %v %v", dir, err, statErr)
		}
		t.Skip("node or openid-client is not installed: npm ci in idgw/testdata/cibaclient")
	}
	f := newBCFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	// The operator's record names the issuer the client discovers.
	reg := f.g.cfg.Registry.(*registry.Registry)
	op := *reg.Operator("red")
	op.Issuer = issuer
	if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutOperator, op)); err != nil {
		t.Fatal(err)
	}
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sim", LoA: 2, AMR: []string{"SIM_OK"}}, &secondCheckPhone{}})
	if err != nil {
		t.Fatal(err)
	}
	f.g.cfg.Issuer, f.g.cfg.Router = issuer, router
	f.rebuild(f.g.cfg.Store.(*testStore))
	useClock(f.g, time.Now) // the client checks the ID token's times against its own clock
	go f.app.Listener(ln)
	t.Cleanup(func() { f.app.Shutdown() })

	key := spKey(t, jose.ES256, 0)
	f.cibaSP("till", "")
	priv, err := key.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "poll.mjs"))
	cmd.Env = append(os.Environ(), "ISSUER="+issuer, "CLIENT_ID=till", "KEY="+string(priv), "LOGIN_HINT=tel:"+redNumber)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the CIBA client failed: %v\n%s", err, stderr.String())
	}
	var got struct {
		AuthReqID   string         `json:"auth_req_id"`
		AccessToken string         `json:"access_token"`
		Claims      map[string]any `json:"claims"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the client printed %q: %v", out, err)
	}
	if got.AccessToken == "" || got.Claims["iss"] != issuer || got.Claims["aud"] == nil || got.Claims["acr"] != "2" {
		t.Fatalf("the client's tokens: %+v", got)
	}
	if s, _, _, _ := f.get("/userinfo", "Bearer "+got.AccessToken); s != 200 {
		t.Fatalf("the client's access token at userinfo: %d", s)
	}
	// The auth_req_id is spent.
	status, body, _ := f.postTo("/token", "", withAssertion(url.Values{"grant_type": {grantCIBA}, "auth_req_id": {got.AuthReqID}},
		f.assertion(key, "till", map[string]any{"aud": issuer})))
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the client's auth_req_id again: %d %v", status, body)
	}
}
