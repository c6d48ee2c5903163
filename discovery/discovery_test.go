package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

const testCorrelation = "5d0f1f4e-33a3-4d1a-8f0c-2b7c6a9e0d41"

// correlationFor is what c sends as correlation_id.
func correlationFor(c sdk) string {
	if c.sendsCorrelation {
		return testCorrelation
	}
	return ""
}

func TestKnownNumber(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		t.Run(c.name, func(t *testing.T) {
			msisdn := numRed
			if c.name == "wso2" {
				msisdn = "+44 7911 123456" // what the user typed, sent raw: the '+' arrives as a space
			}
			corr := correlationFor(c)
			r := s.raw(t, c.request(s, call{redirect: shopRedirect, msisdn: msisdn, correlation: corr})...)
			d := c.read200(t, r, corr)
			want := discovered{operator: "Red Mobile", clientID: shopID, clientSecret: spsecret.OperatorSecret(shopSecret, shopID, "red"), clientName: shopName,
				authorization: "https://red.example/oidc/authorize", token: "https://red.example/oidc/token",
				userinfo: "https://red.example/oidc/userinfo", scope: "openid mc_authn profile",
				ttl: float64(s.clock.now().Add(time.Hour).UnixMilli())}
			want.subscriberID = d.subscriberID
			if d != want {
				t.Errorf("%s read\n%+v\nwant\n%+v", c.name, d, want)
			}
			if n, err := Open(testKeys()["red"], d.subscriberID); err != nil || n != mustNumber(t, numRed) {
				t.Errorf("subscriber_id opens with red's key to %d, %v; want %s", n, err, numRed)
			}
			if got := s.metrics.last(); got != OutcomeFound {
				t.Errorf("metrics outcome %q, want %q", got, OutcomeFound)
			}
		})
	}
}

func TestPortedNumber(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		t.Run(c.name, func(t *testing.T) {
			corr := correlationFor(c)
			d := c.read200(t, s.raw(t, c.request(s, call{redirect: shopRedirect, msisdn: numPorted, correlation: corr})...), corr)
			if d.operator != "Blue Telecom" || d.authorization != "https://login.blue.example/authorize" || d.token != "https://blue.example/oidc/token" {
				t.Errorf("ported number answered with %+v, want Blue Telecom and its registered authorization endpoint", d)
			}
			if n, err := Open(testKeys()["blue"], d.subscriberID); err != nil || n != mustNumber(t, numPorted) {
				t.Errorf("subscriber_id opens with blue's key to %d, %v", n, err)
			}
			if _, err := Open(testKeys()["red"], d.subscriberID); err == nil {
				t.Error("the range holder's key opens a ported number's subscriber_id")
			}
		})
	}
}

// A number of no member, of a suspended member, or of a member that does
// not accept the SP: Not_Found_Entity, whatever the client.
func TestNumberOfNoMember(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, num := range []string{numNoMember, numGrey, numTeal} {
		for _, c := range allSDKs {
			t.Run(c.name+num, func(t *testing.T) {
				corr := correlationFor(c)
				r := s.raw(t, c.request(s, call{redirect: shopRedirect, msisdn: num, correlation: corr})...)
				code, desc := c.readError(t, r, corr, 404)
				if code != "Not_Found_Entity" || desc != "Operator Not Found" {
					t.Errorf("%s read error %q %q", c.name, code, desc)
				}
				if m := r.object(t); m["error_description"] != "Operator Not Found" {
					t.Errorf("error_description %v", m["error_description"])
				}
				if got := s.metrics.last(); got != OutcomeNotFound {
					t.Errorf("metrics outcome %q", got)
				}
			})
		}
	}
}

func TestNoNumberGoesToSelection(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		// An address in no range (Wi-Fi) or in the range of a member that
		// does not accept the SP is no answer either.
		for _, ip := range []string{"", "192.0.2.10", "198.51.100.9"} {
			t.Run(c.name+ip, func(t *testing.T) {
				corr := correlationFor(c)
				r := s.raw(t, c.request(s, call{redirect: shopRedirect, sourceIP: ip, correlation: corr})...)
				href := c.readSelection(t, r, corr)
				if !strings.HasPrefix(href, s.url+"/v2/discovery/users/operator-selection?session_id=") {
					t.Errorf("%s sent to %q", c.name, href)
				}
				if got := s.metrics.last(); got != OutcomeSelection {
					t.Errorf("metrics outcome %q", got)
				}
			})
		}
	}
}

// The call an SDK makes after selection: Selected-MCC/MNC, no number.
func TestSelectedNetwork(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		t.Run(c.name, func(t *testing.T) {
			corr := correlationFor(c)
			r := s.raw(t, c.request(s, call{redirect: shopRedirect, selMCC: "234", selMNC: "20", correlation: corr})...)
			d := c.read200(t, r, corr)
			if d.operator != "Blue Telecom" {
				t.Errorf("operator %q", d.operator)
			}
			if bytes.Contains(r.body, []byte("subscriber_id")) {
				t.Errorf("subscriber_id in an answer to a request without a number: %s", r.body)
			}
		})
	}
	t.Run("unknown network", func(t *testing.T) {
		r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, selMCC: "234", selMNC: "99", correlation: testCorrelation})...)
		if code, _ := javaSDK.readError(t, r, testCorrelation, 404); code != "Not_Found_Entity" {
			t.Errorf("code %q", code)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, selMCC: "23", selMNC: "4", correlation: testCorrelation})...)
		if code, desc := javaSDK.readError(t, r, testCorrelation, 400); code != "invalid_request" || !strings.Contains(desc, "Selected-MCC") {
			t.Errorf("error %q %q", code, desc)
		}
	})
}

func TestIPBased(t *testing.T) {
	s := startServer(t, testRegistry(t))
	cases := []struct {
		name string
		c    sdk
		call call
		want string
	}{
		{"java X-Source-IP", javaSDK, call{sourceIP: "203.0.113.77"}, "Red Mobile"},
		{"php X-Source-IP", phpSDK, call{sourceIP: "203.0.113.77"}, "Red Mobile"},
		{"android X-Source-IP", androidSDK, call{sourceIP: "203.0.113.77"}, "Red Mobile"},
		{"java Local-Client-IP", javaSDK, call{localIP: "2001:db8:20::1"}, "Blue Telecom"},
		{"php Local-Client-IP", phpSDK, call{localIP: "2001:db8:20::1"}, "Blue Telecom"},
		// Local-Client-IP is tried before X-Source-IP.
		{"java both", javaSDK, call{localIP: "2001:db8:20::1", sourceIP: "203.0.113.77"}, "Blue Telecom"},
		// An address that matches no usable member falls through to the next.
		{"java unusable then usable", javaSDK, call{localIP: "198.51.100.9", sourceIP: "203.0.113.77"}, "Red Mobile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.call.redirect, tc.call.correlation = shopRedirect, correlationFor(tc.c)
			r := s.raw(t, tc.c.request(s, tc.call)...)
			if d := tc.c.read200(t, r, tc.call.correlation); d.operator != tc.want || d.subscriberID != "" {
				t.Errorf("answered %q (subscriber_id %q), want %q without subscriber_id", d.operator, d.subscriberID, tc.want)
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		t.Run(c.name, func(t *testing.T) {
			corr := correlationFor(c)
			r := s.raw(t, c.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: corr,
				authorization: basic(shopID, "not-the-secret-0123456789abcdefghijkl")})...)
			if code, _ := c.readError(t, r, corr, 401); code != "invalid_client" {
				t.Errorf("code %q", code)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			if got := s.metrics.last(); got != OutcomeUnauthorized {
				t.Errorf("metrics outcome %q", got)
			}
		})
	}
	for name, tc := range map[string]struct{ auth, says string }{
		"unknown client":   {basic("nobody", shopSecret), "client authentication failed"},
		"suspended client": {basic("gone", shopSecret), "client authentication failed"},
		"no header":        {" ", "required"},
		"bearer":           {"Bearer abc", "Basic"},
		"garbage":          {"Basic !!!", "malformed"},
		// Android's "sha256" credentials mode: hex sha256(key:secret).
		"android sha256": {"Basic 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "hashed"},
	} {
		t.Run(name, func(t *testing.T) {
			r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation, authorization: tc.auth})...)
			if _, desc := javaSDK.readError(t, r, testCorrelation, 401); !strings.Contains(desc, tc.says) {
				t.Errorf("description %q does not say %q", desc, tc.says)
			}
		})
	}
}

func TestUnregisteredRedirect(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, c := range allSDKs {
		for _, redirect := range []string{"https://evil.example/callback", shopRedirect + "/more", "https://shop.example/callbacK"} {
			t.Run(c.name+" "+redirect, func(t *testing.T) {
				corr := correlationFor(c)
				r := s.raw(t, c.request(s, call{redirect: redirect, msisdn: numRed, correlation: corr})...)
				if code, desc := c.readError(t, r, corr, 400); code != "invalid_request" || !strings.Contains(desc, "Redirect_URL") {
					t.Errorf("error %q %q", code, desc)
				}
				if got := s.metrics.last(); got != OutcomeBadRequest {
					t.Errorf("metrics outcome %q", got)
				}
			})
		}
	}
	t.Run("missing", func(t *testing.T) {
		r := s.raw(t, javaSDK.request(s, call{msisdn: numRed, correlation: testCorrelation})...)
		if _, desc := javaSDK.readError(t, r, testCorrelation, 400); !strings.Contains(desc, "Redirect_URL is required") {
			t.Errorf("description %q", desc)
		}
	})
	t.Run("registered app URI with a query", func(t *testing.T) {
		r := s.raw(t, javaSDK.request(s, call{redirect: shopAppURI, msisdn: numRed, correlation: testCorrelation})...)
		javaSDK.read200(t, r, testCorrelation)
	})
	t.Run("bad credentials first", func(t *testing.T) {
		r := s.raw(t, javaSDK.request(s, call{redirect: "https://evil.example/", correlation: testCorrelation, authorization: basic(shopID, "x")})...)
		javaSDK.readError(t, r, testCorrelation, 401)
	})
}

func TestInvalidNumber(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, tc := range []struct {
		c      sdk
		msisdn string
		says   string
	}{
		{javaSDK, "+447700900123", "not a valid number for GB"}, // the UK's drama range
		{phpSDK, "999123456789", "unknown country code"},
		{androidSDK, "+4479", "too short"},
		{wso2SDK, "my number", "not a number"},
	} {
		t.Run(tc.c.name, func(t *testing.T) {
			corr := correlationFor(tc.c)
			r := s.raw(t, tc.c.request(s, call{redirect: shopRedirect, msisdn: tc.msisdn, correlation: corr})...)
			code, desc := tc.c.readError(t, r, corr, 400)
			if m := r.object(t); code != "invalid_request" || !strings.Contains(str(m["description"]), tc.says) {
				t.Errorf("error %q %q, want invalid_request saying %q", code, desc, tc.says)
			}
		})
	}
}

func TestOperatorWithoutSealingKey(t *testing.T) {
	s := startServer(t, testRegistry(t))
	r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numNoKey, correlation: testCorrelation})...)
	d := javaSDK.read200(t, r, testCorrelation)
	if d.operator != "Plain Mobile" || bytes.Contains(r.body, []byte("subscriber_id")) {
		t.Errorf("answer %s", r.body)
	}
	if got := s.metrics.last(); got != OutcomeUnsealed {
		t.Errorf("metrics outcome %q, want %q", got, OutcomeUnsealed)
	}
}

// correlation_id comes back byte for byte, in every kind of answer, whatever
// it holds; sent empty, it comes back empty.
func TestCorrelationEchoedExactly(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for _, corr := range []string{`a"b\c<d>&e é ☎ 😀 ` + "\u2028\t", "x"} {
		for name, cl := range map[string]call{
			"found":        {redirect: shopRedirect, msisdn: numRed},
			"not found":    {redirect: shopRedirect, msisdn: numNoMember},
			"selection":    {redirect: shopRedirect},
			"bad request":  {redirect: "https://evil.example/", msisdn: numRed},
			"unauthorized": {redirect: shopRedirect, authorization: basic(shopID, "wrong")},
		} {
			t.Run(name, func(t *testing.T) {
				cl.correlation = corr
				r := s.raw(t, javaSDK.request(s, cl)...)
				if got := r.object(t)["correlation_id"]; got != corr {
					t.Errorf("correlation_id %q, sent %q", got, corr)
				}
			})
		}
	}
	t.Run("empty", func(t *testing.T) {
		body := "Redirect_URL=" + shopRedirect + "&MSISDN=447911123456&correlation_id="
		r := s.raw(t, withBody([]string{"POST /v2/discovery HTTP/1.1", "Host: x", "Authorization: " + basic(shopID, shopSecret),
			"Content-Type: application/x-www-form-urlencoded"}, body)...)
		if got, ok := r.object(t)["correlation_id"]; !ok || got != "" {
			t.Errorf("correlation_id %q (present %v), want it echoed empty", got, ok)
		}
	})
}

// Parameter names in any case, query and body merged, the body's value
// winning; unknown parameters and headers ignored.
func TestParameterMerging(t *testing.T) {
	s := startServer(t, testRegistry(t))
	auth := "Authorization: " + basic(shopID, shopSecret)
	for name, tc := range map[string]struct {
		lines []string
		want  string
	}{
		"lower case GET": {[]string{"GET /v2/discovery?redirect_url=" + shopRedirect + "&msisdn=447911123456&ignore-cookies=true&manually-select=false HTTP/1.1", "Host: x", auth, "", ""}, "Red Mobile"},
		"upper case POST": {withBody([]string{"POST /v2/discovery/?REDIRECT_URL=" + shopRedirect + " HTTP/1.1", "Host: x", auth, "Content-Type: application/x-www-form-urlencoded"},
			"SELECTED-MCC=234&selected-mnc=20"), "Blue Telecom"},
		"body wins": {withBody([]string{"POST /v2/discovery?Redirect_URL=" + shopRedirect + "&MSISDN=447400123456 HTTP/1.1", "Host: x", auth, "Content-Type: application/x-www-form-urlencoded"},
			"MSISDN=%2B447911123456"), "Red Mobile"},
		"empty body value does not hide the query's": {withBody([]string{"POST /v2/discovery?Redirect_URL=" + shopRedirect + "&MSISDN=447911123456 HTTP/1.1", "Host: x", auth, "Content-Type: application/x-www-form-urlencoded"},
			"MSISDN="), "Red Mobile"},
		"body of another type ignored": {withBody([]string{"POST /v2/discovery?Redirect_URL=" + shopRedirect + "&Selected-MCC=234&Selected-MNC=10 HTTP/1.1", "Host: x", auth, "Content-Type: application/json"},
			`{"MSISDN":"447921123456"}`), "Red Mobile"},
		// Identified-MCC/MNC (the SIM's network, through the app) names the
		// operator; a malformed pair is only a hint, and is ignored.
		"identified network":                   {[]string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&Identified-MCC=234&Identified-MNC=10 HTTP/1.1", "Host: x", auth, "", ""}, "Red Mobile"},
		"malformed identified network ignored": {[]string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&Identified-MCC=null&Identified-MNC=10 HTTP/1.1", "Host: x", auth, "X-Source-IP: 203.0.113.5", "", ""}, "Red Mobile"},
		"selected before identified":           {[]string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&Identified-MCC=234&Identified-MNC=10&Selected-MCC=234&Selected-MNC=20 HTTP/1.1", "Host: x", auth, "", ""}, "Blue Telecom"},
		"number before networks":               {[]string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&MSISDN=447911123456&Selected-MCC=234&Selected-MNC=20 HTTP/1.1", "Host: x", auth, "", ""}, "Red Mobile"},
		"odd Accept":                           {[]string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&MSISDN=447911123456 HTTP/1.1", "Host: x", auth, "Accept: image/png", "", ""}, "Red Mobile"},
	} {
		t.Run(name, func(t *testing.T) {
			r := s.raw(t, tc.lines...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := str(r.object(t)["response"].(map[string]any)["serving_operator"]); got != tc.want {
				t.Errorf("operator %q, want %q", got, tc.want)
			}
		})
	}
}

// Discovery's per-request work must not grow with the registry: it resolves
// once per request and never lists anything.
func TestDiscoveryLooksUpOnce(t *testing.T) {
	reg := &countingRegistry{Registry: testRegistry(t)}
	s := startServer(t, reg)
	for _, cl := range []call{
		{redirect: shopRedirect, msisdn: numRed},
		{redirect: shopRedirect, msisdn: numNoMember},
		{redirect: shopRedirect, selMCC: "234", selMNC: "10"},
		{redirect: shopRedirect, sourceIP: "192.0.2.1"},
	} {
		s.raw(t, javaSDK.request(s, cl)...)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.calls["Operators"] != 0 || reg.calls["Resolve"] != 2 || reg.calls["OperatorByIP"] != 1 {
		t.Errorf("registry calls %v: want 2 Resolve, 1 OperatorByIP, no listing", reg.calls)
	}
}

// The registry is live: a renamed operator, a moved endpoint, a rotated
// sealing key, an SP's new name, scopes or secret are answered with at once.
func TestAnswersFollowRegistryChanges(t *testing.T) {
	reg := testRegistry(t)
	s := startServer(t, reg)
	ask := func(secret string) discovered {
		r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation, authorization: basic(shopID, secret)})...)
		return javaSDK.read200(t, r, testCorrelation)
	}
	ask(shopSecret) // fill the caches

	a := &applier{t: t, r: reg, index: reg.AppliedIndex()}
	red := *reg.Operator("red")
	red.Name, red.Endpoints.Token, red.SealingKey = "Red Mobile Plc", "https://token.red.example/t", publicPEM(testKeys()["teal"])
	a.must(registry.CmdPutOperator, red)
	sp := *reg.ServiceProvider(shopID)
	newSecret := "rotated-secret-0123456789abcdefghijklmn"
	sp.Name, sp.Scopes, sp.SecretKey = "Shop Two", []string{"openid"}, spsecret.PublicKey(newSecret)
	a.must(registry.CmdPutSP, sp)

	d := ask(newSecret)
	if d.operator != "Red Mobile Plc" || d.token != "https://token.red.example/t" || d.clientName != "Shop Two" || d.scope != "openid" ||
		d.clientSecret != spsecret.OperatorSecret(newSecret, shopID, "red") {
		t.Errorf("after the change: %+v", d)
	}
	if _, err := Open(testKeys()["teal"], d.subscriberID); err != nil {
		t.Errorf("subscriber_id not sealed with the rotated key: %v", err)
	}
	r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation})...)
	javaSDK.readError(t, r, testCorrelation, 401) // the old secret no longer works
}

// Many SPs' requests at once while the registry changes under them: every
// answer is whole and consistent (run with -race).
func TestConcurrentDiscovery(t *testing.T) {
	reg := testRegistry(t)
	s := startServer(t, reg)
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	stop := make(chan struct{})
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		index := reg.AppliedIndex()
		red := *reg.Operator("red")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			red.Name = []string{"Red Mobile", "Red Mobile Plc"}[i%2]
			index++
			if err := reg.Apply(index, registry.MustEncode(registry.CmdPutOperator, red)); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var clients sync.WaitGroup
	for g := range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := range 15 {
				body := url.Values{"Redirect_URL": {shopRedirect}, "MSISDN": {[]string{numRed[1:], numPorted[1:]}[(g+i)%2]}, "correlation_id": {fmt.Sprint(g, "-", i)}}
				req, _ := http.NewRequest("POST", s.url+"/v2/discovery", strings.NewReader(body.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", basic(shopID, shopSecret))
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var m struct {
					SubscriberID  string `json:"subscriber_id"`
					CorrelationID string `json:"correlation_id"`
					Response      struct {
						ServingOperator string `json:"serving_operator"`
					} `json:"response"`
				}
				err = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				op := m.Response.ServingOperator
				if err != nil || resp.StatusCode != 200 || m.CorrelationID != fmt.Sprint(g, "-", i) ||
					(op != "Red Mobile" && op != "Red Mobile Plc" && op != "Blue Telecom") {
					t.Errorf("answer %d %+v %v", resp.StatusCode, m, err)
					return
				}
				key := testKeys()["red"]
				if op == "Blue Telecom" {
					key = testKeys()["blue"]
				}
				if _, err := Open(key, m.SubscriberID); err != nil {
					t.Errorf("%s: %v", op, err)
				}
			}
		}()
	}
	clients.Wait()
	close(stop)
	writers.Wait()
}

// TestAnswersCarryTheServingOperatorsSecret: an SP with per-operator
// secrets gets, for each serving operator, the secret derived for it; what
// an operator's gateway sees does not open discovery; a legacy SP gets its
// one secret back, as before.
func TestAnswersCarryTheServingOperatorsSecret(t *testing.T) {
	s := startServer(t, testRegistry(t))
	for number, op := range map[string]string{numRed: "red", numPorted: "blue"} {
		for range 2 { // a miss, then from the cache
			r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: number, correlation: testCorrelation})...)
			if d := javaSDK.read200(t, r, testCorrelation); d.clientSecret != spsecret.OperatorSecret(shopSecret, shopID, op) || d.clientID != shopID {
				t.Fatalf("%s: client %q secret %q, want %s's derived secret", number, d.clientID, d.clientSecret, op)
			}
		}
	}
	derived := spsecret.OperatorSecret(shopSecret, shopID, "red")
	r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation, authorization: basic(shopID, derived)})...)
	javaSDK.readError(t, r, testCorrelation, 401)

	r = s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation, authorization: basic("everywhere", shopSecret)})...)
	if d := javaSDK.read200(t, r, testCorrelation); d.clientSecret != shopSecret {
		t.Fatalf("a legacy SP got %q, want its own secret", d.clientSecret)
	}
}
