package idgw

// Token issuance beside the raw signature it needs, in the same run:
//
//	go test -run '^$' -bench TokenEndpoint -benchtime 2s ./idgw/
//
// raw-<alg> signs an ID-token-sized payload with jwx's jws.Sign directly,
// with the raw private key and the same protected header (kid, typ): the
// fastest way to call jwx.
//
// sign-<alg> is jose.Sign of same-size ID token claims with the gateway's
// key: the signature as the gateway makes it (jose writes the JWS itself,
// without jws.Sign's header marshalling and copies; ratio-to-raw > 1 is
// that saving).
//
// http-floor-<alg> is what the HTTP exchange alone costs with the same
// client: a fiber POST handler that parses the same form and answers a body
// the size of a token response, doing nothing else. The client and the
// server share the cores, so no handler can beat sign+floor: max-ratio is
// raw/(sign+floor), the best ratio-to-raw the token endpoint could reach.
//
// token-<alg> redeems codes at the real token endpoint (client
// authentication, code checks, PCR, ID token, access and refresh tokens),
// served by fiber over an in-memory listener to a fasthttp client, both in
// parallel on every core. It reports its rate as a ratio of raw's
// (ratio-to-raw, the issue's target: >= 0.8), of sign's, and of
// sign+floor's (ratio-to-floor: 1.0 = the gateway's own work costs
// nothing).

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

func BenchmarkTokenEndpoint(b *testing.B) {
	g, _ := newAuthTestGateway(b)
	n, _ := e164.Parse(redNumber)
	g.cfg.Subscribers = subscriberMap{n: {MSISDN: n, Active: true}}
	if _, err := g.cfg.Keys.Ensure(time.Now(), jose.RS256, jose.ES256); err != nil {
		b.Fatal(err)
	}
	reg := g.cfg.Registry.(*registry.Registry)
	for _, alg := range []string{"RS256", "ES256"} {
		err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{
			ClientID: "bench-" + alg, Name: "Bench", SecretKey: spsecret.PublicKey(shopSecret), IDTokenAlg: alg,
			RedirectURIs: []string{shopCB}, Scopes: []string{"openid", "mc_authn"}, Operators: []string{"red"},
			Status: registry.StatusActive}))
		if err != nil {
			b.Fatal(err)
		}
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		b.Fatal(err)
	}
	var floorBody atomic.Pointer[[]byte] // a token response's size, set per alg below
	app.Post("/bench-floor", func(c *fiber.Ctx) error {
		if len(c.FormValue("code")) == 0 {
			return c.SendStatus(400)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("Pragma", "no-cache")
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(*floorBody.Load())
	})
	ln := fasthttputil.NewInmemoryListener()
	go app.Listener(ln)
	defer app.Shutdown()
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	// post sends what an SP sends to redeem codes, to path, from every
	// core; issue, if set, makes each code live just before.
	post := func(b *testing.B, path, clientID string, codes []string, issue func(code string)) {
		var next atomic.Int64
		secret := spsecret.OperatorSecret(shopSecret, clientID, "red") // red's, as discovery hands it out
		b.RunParallel(func(pb *testing.PB) {
			r, w := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(r)
			defer fasthttp.ReleaseResponse(w)
			for pb.Next() {
				code := codes[next.Add(1)-1]
				if issue != nil {
					issue(code)
				}
				r.Reset()
				r.SetRequestURI("http://red.example" + path)
				r.Header.SetMethod("POST")
				r.Header.SetContentType("application/x-www-form-urlencoded")
				r.SetBodyString("grant_type=authorization_code&redirect_uri=" + url.QueryEscape(shopCB) +
					"&code=" + code + "&client_id=" + clientID + "&client_secret=" + secret)
				if err := client.Do(r, w); err != nil || w.StatusCode() != 200 {
					panic(fmt.Sprintf("%s: %v %d %s", path, err, w.StatusCode(), w.Body()))
				}
			}
		})
	}
	perOp := func(b *testing.B) float64 { return float64(b.Elapsed().Nanoseconds()) / float64(b.N) }

	for _, alg := range []jose.Alg{jose.RS256, jose.ES256} {
		clientID := "bench-" + string(alg)
		req, oerr := g.parseAuthRequest(url.Values{
			"client_id": {clientID}, "redirect_uri": {shopCB}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "state": {"s"}, "nonce": {"n"}, "login_hint": {"MSISDN:447911123456"},
		}, time.Now())
		if oerr != nil {
			b.Fatal(oerr)
		}
		// issue does what the authorization endpoint does when a login
		// succeeds: it stores a code's grant. The codes themselves are made
		// before the clock starts, and the store holds only those in
		// flight, as it does in service.
		issue := func(code string) {
			g.codes.put(context.Background(), tokenKey(code), &grant{req: req, msisdn: n, acr: 2, amr: []string{"OTP_OK"}, authTime: time.Now()}, time.Minute)
		}
		// The floor answers a body the size of a real token response.
		code := newSecret()
		issue(code)
		body := []byte(`{"x":"` + strings.Repeat("x", len(redeemOnce(b, client, clientID, code))-8) + `"}`)
		floorBody.Store(&body)
		var rawNs, floorNs float64
		b.Run("raw-"+string(alg), func(b *testing.B) {
			k := g.cfg.Keys.Active(alg)
			privJSON, err := k.MarshalPrivate()
			if err != nil {
				b.Fatal(err)
			}
			jk, err := jwk.ParseKey(privJSON)
			if err != nil {
				b.Fatal(err)
			}
			var priv any
			if err := jk.Raw(&priv); err != nil {
				b.Fatal(err)
			}
			// As a generated key is: without the CRT values every RSA
			// signature would recompute them.
			if rk, ok := priv.(*rsa.PrivateKey); ok {
				rk.Precompute()
			}
			payload := []byte(`{"iss":"https://red.example/","sub":"` + strings.Repeat("p", 43) +
				`","aud":["shop"],"azp":"shop","exp":1735787045,"iat":1735783445,"auth_time":1735783445,"nonce":"n-1",` +
				`"acr":"2","amr":["OTP_OK"],"at_hash":"` + strings.Repeat("h", 22) + `","hashed_login_hint":"` + strings.Repeat("0", 64) + `"}`)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					hdr := jws.NewHeaders()
					_ = hdr.Set(jws.KeyIDKey, k.KID())
					_ = hdr.Set(jws.TypeKey, "JWT")
					if _, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), priv, jws.WithProtectedHeaders(hdr))); err != nil {
						panic(err)
					}
				}
			})
			rawNs = perOp(b)
		})
		var signNs float64
		b.Run("sign-"+string(alg), func(b *testing.B) {
			k := g.cfg.Keys.Active(alg)
			claims := idTokenClaims{Iss: "https://red.example/", Sub: strings.Repeat("p", 43), Aud: []string{"shop"}, Azp: "shop",
				Exp: 1735787045, Iat: 1735783445, AuthTime: 1735783445, Nonce: "n-1", ACR: "2", AMR: []string{"OTP_OK"},
				AtHash: strings.Repeat("h", 22), HashedLoginHint: strings.Repeat("0", 64)}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := jose.Sign(k, claims); err != nil {
						panic(err)
					}
				}
			})
			signNs = perOp(b)
			b.ReportMetric(rawNs/signNs, "ratio-to-raw")
		})
		b.Run("http-floor-"+string(alg), func(b *testing.B) {
			codes := newCodes(b.N)
			b.ResetTimer()
			post(b, "/bench-floor", clientID, codes, nil)
			floorNs = perOp(b)
			b.ReportMetric(rawNs/(signNs+floorNs), "max-ratio")
		})
		b.Run("token-"+string(alg), func(b *testing.B) {
			// Fresh stores: each run starts from the same state, not from
			// the hundred thousand tokens of the previous one.
			g.cfg.Store = newTestStore(b)
			g.makeTables()
			codes := newCodes(b.N)
			b.ResetTimer()
			post(b, "/token", clientID, codes, issue)
			tokenNs := perOp(b)
			b.ReportMetric(1e9/tokenNs, "tokens/s")
			b.ReportMetric(rawNs/tokenNs, "ratio-to-raw")
			b.ReportMetric(signNs/tokenNs, "ratio-to-sign")
			b.ReportMetric((signNs+floorNs)/tokenNs, "ratio-to-floor")
		})
	}
}

func newCodes(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		codes[i] = newSecret()
	}
	return codes
}

// redeemOnce redeems one code and returns the token response.
func redeemOnce(b *testing.B, client *fasthttp.Client, clientID, code string) []byte {
	b.Helper()
	status, body, err := client.Post(nil, "http://red.example/token", fasthttpArgs(url.Values{
		"grant_type": {"authorization_code"}, "redirect_uri": {shopCB}, "code": {code},
		"client_id": {clientID}, "client_secret": {spsecret.OperatorSecret(shopSecret, clientID, "red")}}))
	if err != nil || status != 200 {
		b.Fatalf("token: %v %d %s", err, status, body)
	}
	return body
}

func fasthttpArgs(v url.Values) *fasthttp.Args {
	a := fasthttp.AcquireArgs()
	for k, vs := range v {
		for _, s := range vs {
			a.Add(k, s)
		}
	}
	return a
}
