package federation

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/api"
)

// The OpenAPI documents (api/admin.yaml, api/public.yaml) against a
// running operator's node: every route its two fiber apps register is
// described and every described operation is registered, and real
// requests and answers of each main resource validate against them.

// undescribedRoutes are the routes the documents leave out, by prefix,
// with the reason.
var undescribedRoutes = map[string]string{
	"/v1/internal/": "node-to-node endpoints (forwarded writes, read index, members, joins through the leader), authenticated by node credentials: internal by design, not an API for people or scripts",
}

// useRoutes are the app.Use prefixes of the two apps (fiber lists a Use
// under every method), each with what it is. A new one fails the test: a
// Use that answers requests of its own must be described.
var useRoutes = map[string]string{
	"/":                    "every request's middleware (request id, count, log line, path decoding) and the 404 answer",
	"/v1":                  "the admin token check of the routes under /v1",
	"/v1/internal":         "the node credential check of the internal endpoints",
	"/v1/subscribers":      "the own-operator check of the subscriber routes",
	"/v1/operator/routing": "the own-operator check of the routing policy's routes",
	"/debug/pprof":         "Go's profiles: described as /debug/pprof/ and /debug/pprof/{profile}",
}

var fiberParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// registered lists an app's routes as "METHOD /path/{param}", without the
// HEAD fiber adds beside every GET, with the trailing slash of
// /v2/discovery/ dropped (routing is not strict: it is /v2/discovery), and
// the Use prefixes apart.
func registered(t *testing.T, app *fiber.App) (routes []string, uses []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range app.GetRoutes(true) { // true: without the app.Use entries
		if r.Method == fiber.MethodHead {
			continue
		}
		p := r.Path
		if len(p) > 1 {
			p = strings.TrimSuffix(p, "/")
		}
		k := r.Method + " " + fiberParam.ReplaceAllString(p, "{$1}")
		if !seen[k] {
			seen[k] = true
			routes = append(routes, k)
		}
	}
	for _, r := range app.GetRoutes() {
		// app.Use lists its prefix under every method, CONNECT included,
		// which no handler of mcfed's registers.
		if r.Method == fiber.MethodConnect && !slices.Contains(uses, r.Path) {
			uses = append(uses, r.Path)
		}
	}
	slices.Sort(routes)
	slices.Sort(uses)
	return routes, uses
}

// described lists a document's operations as "METHOD /path".
func described(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

func loadDoc(t *testing.T, data []byte, server string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: server}}
	return doc
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	o := startOperatorNode(t, "otp")
	for _, l := range []struct {
		name string
		app  *fiber.App
		doc  []byte
	}{{"admin", o.node.admin, api.Admin}, {"public", o.node.public, api.Public}} {
		t.Run(l.name, func(t *testing.T) {
			doc := loadDoc(t, l.doc, "http://127.0.0.1")
			routes, uses := registered(t, l.app)
			desc := described(doc)
			var missing, extra []string
			for _, r := range routes {
				_, path, _ := strings.Cut(r, " ")
				if slices.ContainsFunc(slices.Collect(maps.Keys(undescribedRoutes)), func(p string) bool { return strings.HasPrefix(path, p) }) {
					continue
				}
				if !slices.Contains(desc, r) {
					missing = append(missing, r)
				}
			}
			for _, d := range desc {
				if !slices.Contains(routes, d) && !servedByUse(d, uses) {
					extra = append(extra, d)
				}
			}
			for _, u := range uses {
				if _, ok := useRoutes[u]; !ok {
					t.Errorf("app.Use(%q) is neither described nor listed in useRoutes", u)
				}
			}
			if len(missing) > 0 {
				t.Errorf("registered on the %s listener but not described in api/%s.yaml:\n  %s", l.name, l.name, strings.Join(missing, "\n  "))
			}
			if len(extra) > 0 {
				t.Errorf("described in api/%s.yaml but not registered on the %s listener:\n  %s", l.name, l.name, strings.Join(extra, "\n  "))
			}
		})
	}
}

// servedByUse reports whether a described operation is served by a
// middleware mounted with app.Use (the pprof handler).
func servedByUse(op string, uses []string) bool {
	method, path, _ := strings.Cut(op, " ")
	for _, u := range uses {
		if u == "/debug/pprof" && method == fiber.MethodGet && strings.HasPrefix(path, u+"/") {
			return true
		}
	}
	return false
}

var registerHTML sync.Once

// validator checks requests and answers against one document.
type validator struct {
	t      *testing.T
	router routers.Router
}

func newValidator(t *testing.T, data []byte, server string) *validator {
	registerHTML.Do(func() {
		// The pages are described as text/html; kin-openapi has no
		// decoder for it.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
	})
	r, err := gorillamux.NewRouter(loadDoc(t, data, server))
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, router: r}
}

// exchange validates the request against the document, sends it with c,
// validates the answer (its status must be described) and returns it with
// its body.
func (v *validator) exchange(c *http.Client, req *http.Request, body []byte, wantStatus int) (*http.Response, []byte) {
	v.t.Helper()
	return v.send(c, req, body, wantStatus, false)
}

// refused is exchange for a request the document itself refuses (a body
// with a field the API does not have): the node must refuse it too, in
// the answer the document describes.
func (v *validator) refused(c *http.Client, req *http.Request, body []byte, wantStatus int) {
	v.t.Helper()
	v.send(c, req, body, wantStatus, true)
}

func (v *validator) send(c *http.Client, req *http.Request, body []byte, wantStatus int, invalid bool) (*http.Response, []byte) {
	v.t.Helper()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Fatalf("%s %s: no operation in the document: %v", req.Method, req.URL, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	switch err := openapi3filter.ValidateRequest(context.Background(), in); {
	case err != nil && !invalid:
		v.t.Errorf("%s %s: the request does not match the document: %v", req.Method, req.URL.Path, err)
	case err == nil && invalid:
		v.t.Errorf("%s %s: the document accepts a request the test meant to be invalid", req.Method, req.URL.Path)
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != wantStatus {
		v.t.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.Path, resp.StatusCode, b, wantStatus)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(b)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, b)
	}
	return resp, b
}

func newRequest(t *testing.T, method, u, contentType string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// TestOpenAPIServed: each listener answers its own description at
// /openapi.json, without a token, and what it serves loads and validates
// with kin-openapi as the repository's YAML does.
func TestOpenAPIServed(t *testing.T) {
	o := startOperatorNode(t, "otp")
	for _, l := range []struct {
		name, base, title string
	}{{"admin", o.node.AdminURL(), "admin"}, {"public", o.node.PublicURL(), "public"}} {
		t.Run(l.name, func(t *testing.T) {
			resp, err := http.Get(l.base + "/openapi.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			doc, err := openapi3.NewLoader().LoadFromData(body)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if !doc.IsOpenAPI31OrLater() || doc.Paths.Find("/openapi.json") == nil ||
				!strings.Contains(strings.ToLower(doc.Info.Title), l.title) {
				t.Fatalf("served %q %q, paths %d", doc.OpenAPI, doc.Info.Title, doc.Paths.Len())
			}
		})
	}
}
