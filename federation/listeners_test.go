package federation

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mcfed/mcfed/registry"
)

// A GET /authorize carrying parameters just over the gateway's own limits
// reaches the gateway and gets its OAuth error at the redirect URI, not the
// HTTP server's plain-text 431; a request head beyond the listener's buffer
// is answered in the same JSON error format.
func TestAuthorizeUpToTheGatewaysLimitsReachesTheGateway(t *testing.T) {
	o := startOperatorNode(t, "otp")
	u, _ := url.Parse(o.authorizeURL(smsActive, "st"))
	q := u.Query()
	// Claims JSON percent-encodes to far more than its 8 KiB.
	q.Set("claims", `{"userinfo":{"x":{"value":"`+strings.Repeat(`"{}`, 8192/3)+`"}}}`)
	q.Set("binding_message", strings.Repeat("é", 1025))
	u.RawQuery = q.Encode()
	if len(u.String()) < 16<<10 {
		t.Fatalf("the request line is only %d bytes", len(u.String()))
	}
	resp := o.get(u.String())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), smsRedirect) ||
		loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "too long") {
		t.Fatalf("got %d %s, want the gateway's invalid_request at the redirect URI", resp.StatusCode, loc)
	}

	q.Set("claims", strings.Repeat("x", 100<<10))
	u.RawQuery = q.Encode()
	// The node answers once it has read its limit and closes; the part of
	// the request it never read makes the kernel reset the connection,
	// which can reach the client before the answer does. A reset is the
	// transport's doing, not an answer: ask again, a few times at most.
	var big *http.Response
	for try := 0; big == nil; try++ {
		resp, err := http.Get(u.String())
		if err != nil && try < 5 && strings.Contains(err.Error(), "connection reset by peer") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		big = resp
	}
	defer big.Body.Close()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	b, _ := io.ReadAll(big.Body)
	if big.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(big.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(b, &e) != nil || e.Error != "invalid_request" || e.Description == "" {
		t.Fatalf("oversized request head: %d %s %s", big.StatusCode, big.Header.Get("Content-Type"), b)
	}
}

// Every listener bounds how long a client may take to send a request, to
// read the answer and to keep an idle connection; the admin listener gives
// only its bulk imports the long read time they need.
func TestEveryListenerHasTimeouts(t *testing.T) {
	o := startOperatorNode(t, "otp")
	for _, l := range []struct {
		name string
		srv  *fasthttp.Server
	}{{"public", o.node.public.Server()}, {"admin", o.node.admin.Server()}} {
		if l.srv.ReadTimeout <= 0 || l.srv.WriteTimeout <= 0 || l.srv.IdleTimeout <= 0 {
			t.Errorf("%s listener: read %v, write %v, idle %v", l.name, l.srv.ReadTimeout, l.srv.WriteTimeout, l.srv.IdleTimeout)
		}
	}
	adm := o.node.admin.Server()
	if adm.ReadTimeout > time.Minute {
		t.Errorf("admin read timeout %v lets a slow client hold a connection", adm.ReadTimeout)
	}
	if adm.HeaderReceived == nil {
		t.Fatal("admin listener: no longer read time for imports")
	}
	for path, long := range map[string]bool{"/v1/ported/import": true, "/v1/ranges/import": true, "/v1/subscribers/import": true, "/v1/operators": false} {
		var h fasthttp.RequestHeader
		h.SetMethod("POST")
		h.SetRequestURI(path)
		if got := adm.HeaderReceived(&h).ReadTimeout > adm.ReadTimeout; got != long {
			t.Errorf("%s: longer read time %v, want %v", path, got, long)
		}
	}
}

// Path parameters are percent-decoded: a client that escapes the '+' of a
// prefix (as URL builders do) reaches the same range.
func TestAdminPathParametersArePercentDecoded(t *testing.T) {
	f := seeded(t)
	f.do(0, "PUT", "/v1/ranges/%2B447913", operatorRef{Operator: "red"}, nil)
	var rg registry.Range
	f.do(0, "GET", "/v1/ranges/+447913", nil, &rg)
	if rg.Operator != "red" {
		t.Fatalf("range: %+v", rg)
	}
	f.do(0, "GET", "/v1/ranges/%2B447913", nil, &rg)
	f.do(0, "DELETE", "/v1/ranges/%2B447913", nil, nil)
	if p := f.problemOf(0, "GET", "/v1/ranges/+447913", nil); p.Status != 404 {
		t.Fatalf("after delete: %d", p.Status)
	}
}
