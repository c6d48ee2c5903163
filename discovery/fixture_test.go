package discovery

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

// The test federation: three GB members and a French one, numbers, a port,
// IP ranges and two SPs, applied to a registry through commands as the Raft
// FSM would.
const (
	shopID       = "shop"
	shopSecret   = "shop-secret-0123456789abcdefghijklmnop" // ≥ registry.MinSecretLength
	shopName     = "Shop & Co <Ltd>"                        // a name that needs JSON and HTML escaping
	shopRedirect = "https://shop.example/callback"
	shopAppURI   = "com.shop.app://mc/callback?flow=login"

	numRed      = "+447911123456" // in red's range
	numPorted   = "+447911123457" // in red's range, ported to blue
	numGrey     = "+447931123456" // the suspended operator's
	numTeal     = "+33612345678"  // a member that does not accept the shop
	numNoKey    = "+447941123456" // a member without a sealing key
	numNoMember = "+447400123456" // valid, in nobody's range
)

// testKeys are the members' sealing keys, made once for the whole run.
var testKeys = sync.OnceValue(func() map[string]*rsa.PrivateKey {
	m := map[string]*rsa.PrivateKey{}
	for _, id := range []string{"red", "blue", "grey", "teal"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		m[id] = k
	}
	return m
})

func publicPEM(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

type applier struct {
	t     testing.TB
	r     *registry.Registry
	index uint64
}

func (a *applier) must(typ registry.CommandType, v any) {
	a.t.Helper()
	a.index++
	if err := a.r.Apply(a.index, registry.MustEncode(typ, v)); err != nil {
		a.t.Fatalf("command %d: %v", typ, err)
	}
}

func (a *applier) ports(ps ...registry.Port) {
	a.t.Helper()
	cmd, err := registry.EncodePorts(ps)
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	if err := a.r.Apply(a.index, cmd); err != nil {
		a.t.Fatal(err)
	}
}

func mustNumber(t testing.TB, s string) uint64 {
	t.Helper()
	n, err := e164.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testRegistry(t testing.TB) *registry.Registry {
	keys := testKeys()
	a := &applier{t: t, r: registry.New()}
	for _, s := range []string{"openid", "mc_authn", "profile"} {
		a.must(registry.CmdPutScope, registry.Scope{Name: s})
	}
	op := func(id, name, country, currency, network string, status registry.Status) registry.Operator {
		o := registry.Operator{ID: id, Name: name, Country: country, Currency: currency, Networks: []string{network},
			Issuer: "https://" + id + ".example/oidc", Status: status}
		if k := keys[id]; k != nil {
			o.SealingKey = publicPEM(k)
		}
		return o
	}
	a.must(registry.CmdPutOperator, op("red", "Red Mobile", "GB", "GBP", "234_10", registry.StatusActive))
	blue := op("blue", "Blue Telecom", "GB", "GBP", "234_20", registry.StatusActive)
	blue.Endpoints.Authorization = "https://login.blue.example/authorize" // one endpoint registered apart
	a.must(registry.CmdPutOperator, blue)
	a.must(registry.CmdPutOperator, op("grey", "Grey Cellular", "GB", "GBP", "234_30", registry.StatusSuspended))
	a.must(registry.CmdPutOperator, op("teal", "Téléphone Teal", "FR", "EUR", "208_01", registry.StatusActive))
	a.must(registry.CmdPutOperator, op("plain", "Plain Mobile", "GB", "GBP", "234_40", registry.StatusActive))
	a.must(registry.CmdPutRanges, registry.RangeBatch{Ranges: []registry.Range{
		{Prefix: "+447911", Operator: "red"}, {Prefix: "+447921", Operator: "blue"},
		{Prefix: "+447931", Operator: "grey"}, {Prefix: "+3361", Operator: "teal"},
		{Prefix: "+447941", Operator: "plain"},
	}})
	a.ports(registry.Port{Number: mustNumber(t, numPorted), Operator: "blue"})
	for cidr, id := range map[string]string{"203.0.113.0/24": "red", "2001:db8:20::/48": "blue", "198.51.100.0/24": "teal"} {
		a.must(registry.CmdPutIPRange, registry.IPRange{CIDR: cidr, Operator: id})
	}
	// shop has per-operator secrets; everywhere and gone are legacy SPs,
	// with one secret everywhere.
	a.must(registry.CmdPutSP, registry.ServiceProvider{ClientID: shopID, Name: shopName,
		SecretKey: spsecret.PublicKey(shopSecret), RedirectURIs: []string{shopRedirect, shopAppURI},
		Scopes: []string{"openid", "mc_authn", "profile"}, Operators: []string{"red", "blue", "grey", "plain"},
		Status: registry.StatusActive})
	a.must(registry.CmdPutSP, registry.ServiceProvider{ClientID: "everywhere", Name: "Everywhere App",
		SecretHash: registry.HashSecret(shopSecret), RedirectURIs: []string{shopRedirect},
		Scopes: []string{"openid"}, Operators: []string{registry.AllOperators}, Status: registry.StatusActive})
	a.must(registry.CmdPutSP, registry.ServiceProvider{ClientID: "gone", Name: "Gone Ltd",
		SecretHash: registry.HashSecret(shopSecret), RedirectURIs: []string{shopRedirect},
		Scopes: []string{"openid"}, Operators: []string{registry.AllOperators}, Status: registry.StatusSuspended})
	return a.r
}

// recordingMetrics keeps the outcomes discovery reported.
type recordingMetrics struct {
	mu       sync.Mutex
	outcomes []string
}

func (m *recordingMetrics) ObserveDiscovery(outcome string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d <= 0 {
		outcome += " (no duration)"
	}
	m.outcomes = append(m.outcomes, outcome)
}

func (m *recordingMetrics) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.outcomes) == 0 {
		return ""
	}
	return m.outcomes[len(m.outcomes)-1]
}

// server is a node's public listener on loopback with the service mounted.
type server struct {
	svc     *Service
	url     string
	addr    string
	metrics *recordingMetrics
	clock   *testClock
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startServer(t testing.TB, reg Registry) *server {
	t.Helper()
	return startServerWith(t, reg, nil)
}

// startServerWith is startServer with the node's readiness.
func startServerWith(t testing.TB, reg Registry, ready Readiness) *server {
	t.Helper()
	return startServerConfig(t, Config{Registry: reg, Readiness: ready})
}

// startServerConfig starts a server with cfg, whose registry, public URL,
// metrics, selection key and clock the fixture fills.
func startServerConfig(t testing.TB, cfg Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String(), metrics: &recordingMetrics{},
		clock: &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	s.url = "http://" + s.addr
	cfg.PublicURL, cfg.Metrics, cfg.Now = s.url+"/", s.metrics, s.clock.now
	cfg.SelectionKey = []byte("0123456789abcdef0123456789abcdef")
	s.svc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	s.svc.Mount(app)
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// result is an HTTP answer as a client sees it.
type result struct {
	status int
	header http.Header
	body   []byte
}

// raw sends a request exactly as written (CRLFs added) on a new connection,
// so that header names, order and empty values are the SDK's own.
func (s *server) raw(t testing.TB, lines ...string) *result {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, strings.Join(lines, "\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: body}
}

// object decodes a JSON object answer, failing the test if it is not one.
func (r *result) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// countingRegistry wraps a registry to count the lookups discovery makes.
type countingRegistry struct {
	*registry.Registry
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingRegistry) count(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[name]++
}

func (c *countingRegistry) Resolve(n uint64) (registry.Resolution, bool) {
	c.count("Resolve")
	return c.Registry.Resolve(n)
}

func (c *countingRegistry) OperatorByIP(a netip.Addr) *registry.Operator {
	c.count("OperatorByIP")
	return c.Registry.OperatorByIP(a)
}

func (c *countingRegistry) Operators(after string, limit int) registry.Page[registry.Operator] {
	c.count("Operators")
	return c.Registry.Operators(after, limit)
}
