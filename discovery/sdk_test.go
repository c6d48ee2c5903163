package discovery

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// The requests the real clients send (spec §1.1 and §7), replayed byte for
// byte, and what each client takes out of the answers.

// call is what an SP's code asks its SDK for.
type call struct {
	redirect       string // Redirect_URL
	msisdn         string // as the SP (or, for WSO2, the user) gave it
	selMCC, selMNC string
	localIP        string // Local-Client-IP
	sourceIP       string // X-Source-IP
	correlation    string // "" for none
	authorization  string // the Authorization header; default the shop's Basic credentials
}

func (c call) auth() string {
	if c.authorization != "" {
		return c.authorization
	}
	return basic(shopID, shopSecret)
}

// sdk is one client: how it builds a discovery request, and how it reads
// the three kinds of answer. read* fail the test where the real client
// would fail (a missing field it requires, a status it does not handle).
type sdk struct {
	name string
	// json: the client asks for JSON and must get 202, never a 302 (the
	// Java SDK's HTTP client would follow it).
	json    bool
	request func(s *server, c call) []string
	// sendsCorrelation: the client sends correlation_id when asked to.
	sendsCorrelation bool
}

func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func withBody(head []string, body string) []string {
	return append(head, "Content-Length: "+strconv.Itoa(len(body)), "", body)
}

var (
	// GSMA Java server SDK r2 (Java-2.4.7): GET with query parameters when
	// there is no MSISDN, else POST with every parameter in the form body;
	// preemptive Basic; an empty Cookie header; Accept application/json.
	javaSDK = sdk{name: "java", json: true, sendsCorrelation: true, request: func(s *server, c call) []string {
		params := form("Redirect_URL", c.redirect, "Selected-MCC", c.selMCC, "Selected-MNC", c.selMNC,
			"Local-Client-IP", c.localIP, "Using-Mobile-Data", "0", "MSISDN", strings.TrimLeft(c.msisdn, "+"),
			"correlation_id", c.correlation)
		head := func(method, target string) []string {
			h := []string{method + " " + target + " HTTP/1.1",
				"SDK-Version: Java-2.4.7", "Cookie: "}
			if c.sourceIP != "" {
				h = append(h, "X-Source-IP: "+c.sourceIP)
			}
			return append(h, "Authorization: "+c.auth(), "X-Redirect: APP", "Client-Side-Version: none",
				"Accept: application/json", "Host: "+s.addr, "Connection: Keep-Alive",
				"User-Agent: Apache-HttpClient/4.5.13 (Java/1.8.0_392)", "Accept-Encoding: gzip,deflate")
		}
		if c.msisdn == "" {
			return append(head("GET", "/v2/discovery?"+params), "", "")
		}
		return withBody(append(head("POST", "/v2/discovery"),
			"Content-Type: application/x-www-form-urlencoded; charset=UTF-8"), params)
	}}

	// GSMA PHP server SDK (Zend HTTP client): the same method choice, all
	// parameters in the body, X-Redirect APP.
	phpSDK = sdk{name: "php", json: true, sendsCorrelation: true, request: func(s *server, c call) []string {
		params := form("Redirect_URL", c.redirect, "MSISDN", strings.TrimLeft(c.msisdn, "+"),
			"Selected-MCC", c.selMCC, "Selected-MNC", c.selMNC, "Local-Client-IP", c.localIP,
			"Using-Mobile-Data", "0", "correlation_id", c.correlation)
		head := func(method, target string) []string {
			h := []string{method + " " + target + " HTTP/1.1", "Host: " + s.addr, "Connection: close",
				"Accept-Encoding: gzip, deflate", "User-Agent: Laminas_Http_Client", "Accept: application/json"}
			if c.sourceIP != "" {
				h = append(h, "X-Source-IP: "+c.sourceIP)
			}
			return append(h, "X-Redirect: APP", "Authorization: "+c.auth())
		}
		if c.msisdn == "" {
			return append(head("GET", "/v2/discovery?"+params), "", "")
		}
		return withBody(append(head("POST", "/v2/discovery"), "Content-Type: application/x-www-form-urlencoded"), params)
	}}

	// Legacy Android SDK, browser flow: Redirect_URL (not encoded) and the
	// networks in the query string, MSISDN alone in the form body, Accept
	// text/html, X-Source-IP.
	androidSDK = sdk{name: "android", json: false, sendsCorrelation: true, request: func(s *server, c call) []string {
		q := "Redirect_URL=" + c.redirect
		if c.selMCC != "" {
			q += "&Selected-MCC=" + c.selMCC + "&Selected-MNC=" + c.selMNC
		}
		if c.correlation != "" {
			q += "&correlation_id=" + url.QueryEscape(c.correlation)
		}
		h := func(method string) []string {
			h := []string{method + " /v2/discovery?" + q + " HTTP/1.1", "Accept: text/html"}
			if c.sourceIP != "" {
				h = append(h, "X-Source-IP: "+c.sourceIP)
			}
			return append(h, "Authorization: "+c.auth(), "Host: "+s.addr, "Connection: Keep-Alive",
				"User-Agent: Apache-HttpClient/UNAVAILABLE (java 1.4)")
		}
		if c.msisdn == "" {
			return append(h("GET"), "", "")
		}
		return withBody(append(h("POST"), "Content-Type: application/x-www-form-urlencoded"), "MSISDN="+url.QueryEscape(c.msisdn))
	}}

	// WSO2 Mobile Connect authenticator: the trailing-slash URL, Accept
	// application/xml (it parses JSON all the same), Redirect_URL raw in the
	// query, the number exactly as the user typed it, unencoded, in the
	// body, with HttpURLConnection's default form Content-Type. It sends no
	// correlation_id.
	wso2SDK = sdk{name: "wso2", json: false, request: func(s *server, c call) []string {
		q := "Redirect_URL=" + c.redirect
		if c.selMCC != "" {
			q = "Selected-MCC=" + c.selMCC + "&Selected-MNC=" + c.selMNC + "&Redirect_URL=" + url.QueryEscape(c.redirect)
		}
		method := "GET"
		if c.msisdn != "" {
			method = "POST"
		}
		h := []string{method + " /v2/discovery/?" + q + " HTTP/1.1", "Authorization: " + c.auth(),
			"Accept: application/xml", "User-Agent: Java/1.8.0_392", "Host: " + s.addr, "Connection: keep-alive"}
		if c.msisdn == "" {
			return append(h, "", "")
		}
		return withBody(append(h, "Content-Type: application/x-www-form-urlencoded"), "MSISDN="+c.msisdn)
	}}

	allSDKs = []sdk{javaSDK, phpSDK, androidSDK, wso2SDK}
)

// discovered is what a client takes from a 200 answer.
type discovered struct {
	operator, clientID, clientSecret, clientName string
	subscriberID                                 string // where this client reads it
	authorization, token, userinfo, scope        string
	ttl                                          float64
}

// read200 reads a 200 answer as c does.
func (c sdk) read200(t *testing.T, r *result, sent string) discovered {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%s: status %d, want 200: %s", c.name, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q: Android reads only application/json", c.name, ct)
	}
	m := r.object(t)
	if _, isErr := m["error"]; isErr {
		t.Fatalf("%s: a 200 with an error field is an error to every SDK: %s", c.name, r.body)
	}
	checkCorrelation(t, c.name, m, sent)
	resp, ok := m["response"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no response object", c.name)
	}
	d := discovered{
		operator:     str(resp["serving_operator"]),
		clientID:     str(resp["client_id"]),
		clientSecret: str(resp["client_secret"]),
		clientName:   str(resp["client_name"]),
	}
	d.ttl, _ = m["ttl"].(float64)
	links := linksOf(t, resp)
	// Java and PHP match rels ignoring case, WSO2 exactly; both agree when
	// rels are written as the SDKs' constants are.
	rel := func(name string) string {
		for _, l := range links {
			if (c.name == "wso2" && l.rel == name) || (c.name != "wso2" && strings.EqualFold(l.rel, name)) {
				return l.href
			}
		}
		return ""
	}
	switch c.name {
	case "android":
		d.subscriberID = str(resp["subscriber_id"])
		d.authorization = rel("authorize") // the legacy SDK's rel
	default:
		d.subscriberID = str(m["subscriber_id"])
		d.authorization = rel("authorization")
	}
	d.token, d.userinfo, d.scope = rel("token"), rel("userinfo"), rel("scope")
	if c.name == "java" {
		for _, need := range []string{"openid-configuration", "issuer", "premiuminfo", "jwks", "tokenrevoke", "tokenrefresh", "applicationShortName"} {
			if rel(need) == "" {
				t.Errorf("java: no %q link", need)
			}
		}
	}
	if c.name == "wso2" && (d.authorization == "" || d.clientID == "" || d.clientSecret == "") {
		t.Errorf("wso2: JSONObject.getString would throw: authorization %q, client_id %q, client_secret %q", d.authorization, d.clientID, d.clientSecret)
	}
	return d
}

// readSelection returns the operator-selection URL c is sent to.
func (c sdk) readSelection(t *testing.T, r *result, sent string) string {
	t.Helper()
	if c.json {
		if r.status != 202 {
			t.Fatalf("%s: status %d, want 202 (a 302 would be followed by the client)", c.name, r.status)
		}
		m := r.object(t)
		checkCorrelation(t, c.name, m, sent)
		links, _ := m["links"].([]any)
		for _, l := range links {
			if lm, _ := l.(map[string]any); lm != nil && str(lm["rel"]) == "operatorSelection" {
				return str(lm["href"])
			}
		}
		t.Fatalf("%s: no operatorSelection link: %s", c.name, r.body)
	}
	if r.status != 302 || r.header.Get("Location") == "" {
		t.Fatalf("%s: status %d Location %q, want a 302", c.name, r.status, r.header.Get("Location"))
	}
	return r.header.Get("Location")
}

// readError returns the error code and description c reports.
func (c sdk) readError(t *testing.T, r *result, sent string, wantStatus int) (string, string) {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("%s: status %d, want %d: %s", c.name, r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: error Content-Type %q: Android reads only JSON error bodies", c.name, ct)
	}
	m := r.object(t)
	checkCorrelation(t, c.name, m, sent)
	switch c.name {
	case "java":
		return str(m["error"]), str(m["description"])
	case "php":
		if _, ok := m["description"]; !ok {
			t.Fatalf("php: DiscoveryResponse reads $responseData[\"description\"] unchecked: %s", r.body)
		}
		return str(m["error"]), str(m["description"])
	case "android":
		if _, ok := m["response"].(map[string]any); !ok {
			t.Fatalf("android: error without a response object: %s", r.body)
		}
		return str(m["error"]), str(m["error_description"])
	default: // wso2 branches on the status alone: 400/404 retry, 401 bad credentials
		if wantStatus != 400 && wantStatus != 401 && wantStatus != 404 {
			t.Fatalf("wso2: does not handle status %d", wantStatus)
		}
		return str(m["error"]), str(m["description"])
	}
}

// checkCorrelation applies the Java SDK's rule to every client: an answer
// may omit correlation_id only when none was sent, and must otherwise echo
// it exactly.
func checkCorrelation(t *testing.T, who string, m map[string]any, sent string) {
	t.Helper()
	got, present := m["correlation_id"]
	switch {
	case sent == "" && present:
		t.Errorf("%s: correlation_id %q in the answer to a request without one", who, got)
	case sent != "" && got != sent:
		t.Errorf("%s: correlation_id %q, sent %q", who, got, sent)
	}
}

type link struct{ rel, href string }

func linksOf(t *testing.T, resp map[string]any) []link {
	t.Helper()
	apis, _ := resp["apis"].(map[string]any)
	opid, _ := apis["operatorid"].(map[string]any)
	raw, ok := opid["link"].([]any)
	if !ok {
		t.Fatalf("no response.apis.operatorid.link array")
	}
	var out []link
	for _, l := range raw {
		lm, _ := l.(map[string]any)
		out = append(out, link{str(lm["rel"]), str(lm["href"])})
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }
