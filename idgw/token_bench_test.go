package idgw

// Token issuance beside the raw signature it needs, in the same run:
//
//	go test -run '^$' -bench TokenEndpoint -benchtime 3s ./idgw/
//
// raw-<alg> signs an ID-token-sized payload with jwx's jws.Sign directly;
// token-<alg> redeems codes at the real token endpoint (client
// authentication, code checks, PCR, ID token, access and refresh tokens),
// served by fiber over an in-memory listener to a fasthttp client, both in
// parallel on every core. token-<alg> reports its rate as a ratio of raw's.

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/mcfed/mcfed/jose"
	"github.com/mcfed/mcfed/registry"
)

func BenchmarkTokenEndpoint(b *testing.B) {
	g, _ := newAuthTestGateway(b)
	n, _ := registry.ParseMSISDN(redNumber)
	g.cfg.Subscribers = subscriberMap{n: {MSISDN: n, Active: true}}
	if _, err := g.cfg.Keys.Ensure(time.Now(), jose.RS256, jose.ES256); err != nil {
		b.Fatal(err)
	}
	reg := g.cfg.Registry.(*registry.Registry)
	for _, alg := range []string{"RS256", "ES256"} {
		err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{
			ClientID: "bench-" + alg, Name: "Bench", SecretHash: registry.HashSecret(shopSecret), IDTokenAlg: alg,
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
	ln := fasthttputil.NewInmemoryListener()
	go app.Listener(ln)
	defer app.Shutdown()
	client := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}

	for _, alg := range []jose.Alg{jose.RS256, jose.ES256} {
		var rawNs float64
		b.Run("raw-"+string(alg), func(b *testing.B) {
			privJSON, err := g.cfg.Keys.Active(alg).MarshalPrivate()
			if err != nil {
				b.Fatal(err)
			}
			key, err := jwk.ParseKey(privJSON)
			if err != nil {
				b.Fatal(err)
			}
			payload := []byte(`{"iss":"https://red.example/","sub":"` + strings.Repeat("p", 43) +
				`","aud":["shop"],"azp":"shop","exp":1735787045,"iat":1735783445,"auth_time":1735783445,"nonce":"n-1",` +
				`"acr":"2","amr":["OTP_OK"],"at_hash":"` + strings.Repeat("h", 22) + `","hashed_login_hint":"` + strings.Repeat("0", 64) + `"}`)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), key)); err != nil {
						b.Fatal(err)
					}
				}
			})
			rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		b.Run("token-"+string(alg), func(b *testing.B) {
			req, oerr := g.parseAuthRequest(url.Values{
				"client_id": {"bench-" + string(alg)}, "redirect_uri": {shopCB}, "response_type": {"code"},
				"scope": {"openid mc_authn"}, "state": {"s"}, "nonce": {"n"}, "login_hint": {"MSISDN:447911123456"},
			}, time.Now())
			if oerr != nil {
				b.Fatal(oerr)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r, w := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(r)
				defer fasthttp.ReleaseResponse(w)
				for pb.Next() {
					code := newSecret()
					g.codes.put(tokenKey(code), &grant{req: req, msisdn: n, acr: 2, amr: []string{"OTP_OK"}, authTime: time.Now()}, time.Minute)
					r.Reset()
					r.SetRequestURI("http://red.example/token")
					r.Header.SetMethod("POST")
					r.Header.SetContentType("application/x-www-form-urlencoded")
					r.SetBodyString("grant_type=authorization_code&redirect_uri=" + url.QueryEscape(shopCB) +
						"&code=" + code + "&client_id=bench-" + string(alg) + "&client_secret=" + shopSecret)
					if err := client.Do(r, w); err != nil || w.StatusCode() != 200 {
						panic(fmt.Sprintf("token: %v %d %s", err, w.StatusCode(), w.Body()))
					}
				}
			})
			tokenNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1e9/tokenNs, "tokens/s")
			if rawNs > 0 {
				b.ReportMetric(rawNs/tokenNs, "ratio-to-raw")
			}
		})
	}
}
