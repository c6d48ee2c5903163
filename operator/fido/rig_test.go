package fido_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/fido/fidotest"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

const (
	alice  = uint64(4915112345678)
	bob    = uint64(4915112345679)
	spName = "Acme Bank"
)

// rig is the package's pages on a fiber app listening on loopback, over
// an embedded state store. The node is reached as localhost (an RP ID
// cannot be an IP address); the rig's HTTP clients dial 127.0.0.1 for it.
type rig struct {
	store  state.Store
	public string // http://localhost:<port>, the gateway's origin
	ln     net.Listener
	app    *fiber.App
}

func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: st, ln: ln, public: "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}
	r.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	t.Cleanup(func() { ln.Close() }) // if never served
	return r
}

// serve starts serving the app, once its routes are mounted, until the
// test ends.
func (r *rig) serve(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = r.app.ShutdownWithTimeout(2 * time.Second)
		<-done
	})
	go func() {
		defer close(done)
		_ = r.app.Listener(r.ln)
	}()
}

// auth is the rig's node's authenticator, its pages mounted and served.
func (r *rig) auth(t *testing.T, cfg fido.Config) *fido.Authenticator {
	t.Helper()
	a := r.unmounted(t, cfg)
	a.Mount(r.app)
	r.serve(t)
	return a
}

// unmounted is an authenticator over the rig's store whose pages are not
// served: another node of the same operator.
func (r *rig) unmounted(t *testing.T, cfg fido.Config) *fido.Authenticator {
	t.Helper()
	cfg.PublicURL = r.public
	cfg.OperatorName = "Demo Mobile"
	cfg.Store = r.store
	a, err := fido.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// client is a browser's HTTP client: a cookie jar, no automatic
// redirects after posts of forms handled by the test, localhost on
// loopback.
func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := r.ln.Addr().String()
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

func (r *rig) challenge(msisdn uint64, lang string) idgw.Challenge {
	return idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: r.public + "/authorize/continue?session=abc123",
		Operator: idgw.Look{Name: "Demo Mobil DE", Color: "#c2185b"}, Number: idgw.MaskNumber(msisdn), Language: lang, Browser: true}
}

type answer struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, c *http.Client, method, u, contentType, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// device is a person's browser with a software authenticator in it.
type device struct {
	r    *rig
	http *http.Client
	auth *fidotest.Authenticator
}

func (r *rig) device() *device {
	return &device{r: r, http: r.client(), auth: fidotest.New()}
}

// opts are the browser's options for the authenticator: the page's origin.
func (d *device) opts() fidotest.Options { return fidotest.Options{Origin: d.r.public} }

// enrol is what a person does after a login: the gateway vouches for
// msisdn (Enrol), the browser opens the passkeys page and adds a passkey
// there. It returns the new passkey's page as the browser sees it.
func (d *device) enrol(t *testing.T, a *fido.Authenticator, msisdn uint64, o fidotest.Options) answer {
	t.Helper()
	d.openPasskeys(t, a, msisdn)
	return d.addPasskey(t, o)
}

// openPasskeys follows Enrol's URL to the passkeys page.
func (d *device) openPasskeys(t *testing.T, a *fido.Authenticator, msisdn uint64) answer {
	t.Helper()
	ch := d.r.challenge(msisdn, "en")
	ch.ReturnURL = d.r.public + "/account"
	u, err := a.Enrol(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	page := do(t, d.http, "GET", u, "", "")
	if page.status != 200 || !strings.Contains(page.body, "Your passkeys") {
		t.Fatalf("passkeys page: %d\n%s", page.status, page.body)
	}
	return page
}

// addPasskey runs the registration ceremony from the passkeys page.
func (d *device) addPasskey(t *testing.T, o fidotest.Options) answer {
	t.Helper()
	begin := do(t, d.http, "POST", d.r.public+"/fido/register/begin", "application/json", "{}", "Origin", d.r.public)
	if begin.status != 200 {
		t.Fatalf("register begin: %d %s", begin.status, begin.body)
	}
	var cer fido.Ceremony
	if err := json.Unmarshal([]byte(begin.body), &cer); err != nil {
		t.Fatal(err)
	}
	cred, err := d.auth.Create(cer.Options, o)
	if err != nil {
		t.Fatal(err)
	}
	fin := do(t, d.http, "POST", d.r.public+"/fido/register/finish?r="+url.QueryEscape(cer.ID), "application/json",
		string(cred), "Origin", d.r.public)
	return fin
}

// login is the gateway's Start, then the browser on the login page: it
// returns the challenge's state and the page's endpoints.
type login struct {
	started idgw.Started
	options string // URL
	finish  string // URL
	page    answer
}

var dataAttr = regexp.MustCompile(`data-options="([^"]+)" data-finish="([^"]+)"`)

func (d *device) startLogin(t *testing.T, a *fido.Authenticator, msisdn uint64) login {
	t.Helper()
	st, err := a.Start(context.Background(), d.r.challenge(msisdn, "en"))
	if err != nil {
		t.Fatal(err)
	}
	page := do(t, d.http, "GET", st.RedirectURL, "", "")
	m := dataAttr.FindStringSubmatch(page.body)
	if page.status != 200 || m == nil {
		t.Fatalf("login page: %d\n%s", page.status, page.body)
	}
	un := func(s string) string { return d.r.public + strings.ReplaceAll(s, "&amp;", "&") }
	return login{started: st, options: un(m[1]), finish: un(m[2]), page: page}
}

// assert fetches the login's options and has the authenticator answer
// them.
func (d *device) assert(t *testing.T, l login, o fidotest.Options) []byte {
	t.Helper()
	opts := do(t, d.http, "GET", l.options, "", "")
	if opts.status != 200 {
		t.Fatalf("login options: %d %s", opts.status, opts.body)
	}
	resp, err := d.auth.Get([]byte(opts.body), o)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// post posts an assertion to the login's finish endpoint.
func (d *device) post(t *testing.T, l login, assertion []byte) answer {
	t.Helper()
	return do(t, d.http, "POST", l.finish, "application/json", string(assertion), "Origin", d.r.public)
}

// problemType is a problem+json answer's type, after the base.
func problemType(t *testing.T, a answer) string {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("answer %d of type %q, want a problem: %s", a.status, ct, a.body)
	}
	var p struct{ Type, Detail string }
	if err := json.Unmarshal([]byte(a.body), &p); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(p.Type, "https://mcfed.dev/problems/")
}

func check(t *testing.T, a *fido.Authenticator, st []byte, form url.Values) idgw.Outcome {
	t.Helper()
	out, err := a.Check(context.Background(), st, form)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
