package subscribers

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
)

// API is the provisioning REST API. The node mounts it on its admin
// listener, behind its admin token: the API does no authentication itself.
type API struct {
	Store *Store
	// MaxBodyBytes caps JSON bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int
	// MaxImportBytes caps bulk files (default DefaultMaxImportBytes).
	MaxImportBytes int64
	// Log gets internal errors (default slog.Default()).
	Log *slog.Logger
	// Consents, when set, is the operator's gateway's ledger of the
	// subscribers' consents (consents.go); without it those routes answer
	// 503.
	Consents ConsentLedger
}

// Default limits of the API.
const (
	DefaultMaxBodyBytes   = 256 << 10 // a subscriber with its enrolments
	DefaultMaxImportBytes = 1 << 30   // MaxBulkRows rows of about 1 KB
)

// Mount registers the API with default limits under r.
func (s *Store) Mount(r fiber.Router) { (&API{Store: s}).Mount(r) }

// Mount registers the API's routes under r:
//
//	POST   /subscribers                    create (201, Location, ETag)
//	GET    /subscribers?status=&after=&limit=&updated_since=&family_name=
//	POST   /subscribers/import             bulk load (text/csv or application/x-ndjson)
//	GET    /subscribers/{msisdn}           read (ETag: the version)
//	PUT    /subscribers/{msisdn}           replace
//	PATCH  /subscribers/{msisdn}           JSON merge patch (RFC 7396)
//	POST   /subscribers/{msisdn}/suspend
//	POST   /subscribers/{msisdn}/reactivate
//	DELETE /subscribers/{msisdn}           soft delete (204)
//	GET    /subscribers/{msisdn}/consents  the SPs' consent records
//	DELETE /subscribers/{msisdn}/consents/{client_id}  withdraw (204)
//
// Writes to one subscriber honour If-Match with its version (412 when it
// differs). Errors are application/problem+json.
func (a *API) Mount(r fiber.Router) {
	r.Post("/subscribers/import", a.importFile)
	r.Post("/subscribers", a.create)
	r.Get("/subscribers", a.list)
	r.Get("/subscribers/:msisdn", a.get)
	r.Put("/subscribers/:msisdn", a.replace)
	r.Patch("/subscribers/:msisdn", a.patch)
	r.Post("/subscribers/:msisdn/suspend", a.setStatus(StatusSuspended))
	r.Post("/subscribers/:msisdn/reactivate", a.setStatus(StatusActive))
	r.Delete("/subscribers/:msisdn", a.delete)
	r.Get("/subscribers/:msisdn/consents", a.listConsents)
	r.Delete("/subscribers/:msisdn/consents/:client", a.withdrawConsent)
}

func (a *API) fail(c *fiber.Ctx, err error) error {
	if p := problemFor(err); p.Status >= 500 {
		log := a.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("provisioning request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	return writeProblem(c, err)
}

// answer writes a subscriber with its version as the ETag.
func answer(c *fiber.Ctx, status int, sub Subscriber) error {
	c.Set(fiber.HeaderETag, `"`+strconv.FormatUint(sub.Version, 10)+`"`)
	return c.Status(status).JSON(sub)
}

func (a *API) create(c *fiber.Ctx) error {
	sub, err := a.readSubscriber(c)
	if err != nil {
		return a.fail(c, err)
	}
	sub, err = a.Store.Create(sub)
	if err != nil {
		return a.fail(c, err)
	}
	c.Location(strings.TrimSuffix(c.Path(), "/") + "/" + url.PathEscape(sub.MSISDN.String()))
	return answer(c, http.StatusCreated, sub)
}

func (a *API) get(c *fiber.Ctx) error {
	m, err := pathMSISDN(c)
	if err != nil {
		return a.fail(c, err)
	}
	sub, err := a.Store.Get(m)
	if err != nil {
		return a.fail(c, err)
	}
	return answer(c, http.StatusOK, sub)
}

func (a *API) replace(c *fiber.Ctx) error {
	m, v, err := target(c)
	if err != nil {
		return a.fail(c, err)
	}
	sub, err := a.readSubscriber(c)
	if err != nil {
		return a.fail(c, err)
	}
	if sub, err = a.Store.Replace(m, v, sub); err != nil {
		return a.fail(c, err)
	}
	return answer(c, http.StatusOK, sub)
}

func (a *API) patch(c *fiber.Ctx) error {
	m, v, err := target(c)
	if err != nil {
		return a.fail(c, err)
	}
	ct, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if ct != "application/merge-patch+json" && ct != fiber.MIMEApplicationJSON {
		return a.fail(c, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"PATCH takes a JSON merge patch (Content-Type: application/merge-patch+json)"))
	}
	body, err := a.body(c)
	if err != nil {
		return a.fail(c, err)
	}
	sub, err := a.Store.Patch(m, v, body)
	if err != nil {
		return a.fail(c, err)
	}
	return answer(c, http.StatusOK, sub)
}

func (a *API) setStatus(status Status) fiber.Handler {
	return func(c *fiber.Ctx) error {
		m, v, err := target(c)
		if err != nil {
			return a.fail(c, err)
		}
		sub, err := a.Store.SetStatus(m, v, status)
		if err != nil {
			return a.fail(c, err)
		}
		return answer(c, http.StatusOK, sub)
	}
}

func (a *API) delete(c *fiber.Ctx) error {
	m, v, err := target(c)
	if err != nil {
		return a.fail(c, err)
	}
	if _, err := a.Store.Delete(m, v); err != nil {
		return a.fail(c, err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// listPage is the answer of GET /subscribers; Next is the after= of the
// following page, absent on the last.
type listPage struct {
	Subscribers []Subscriber `json:"subscribers"`
	Next        string       `json:"next,omitempty"`
}

func (a *API) list(c *fiber.Ctx) error {
	opts := ListOptions{Status: Status(c.Query("status")), FamilyName: c.Query("family_name")}
	if s := c.Query("after"); s != "" {
		m, err := parseMSISDN(s, "after")
		if err != nil {
			return a.fail(c, err)
		}
		opts.After = m
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			return a.fail(c, invalid("limit", "must be 1 to %d", MaxPageSize))
		}
		opts.Limit = n
	}
	if s := c.Query("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return a.fail(c, invalid("updated_since", "must be an RFC 3339 time"))
		}
		opts.UpdatedSince = t
	}
	page, next, err := a.Store.List(opts)
	if err != nil {
		return a.fail(c, err)
	}
	out := listPage{Subscribers: page}
	if out.Subscribers == nil {
		out.Subscribers = []Subscriber{}
	}
	if next != 0 {
		out.Next = next.String()
	}
	return c.JSON(out)
}

func (a *API) importFile(c *fiber.Ctx) error {
	var format Format
	switch ct, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); ct {
	case "text/csv":
		format = FormatCSV
	case "application/x-ndjson", "application/jsonl":
		format = FormatNDJSON
	default:
		return a.fail(c, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"an import is text/csv (with a header line) or application/x-ndjson"))
	}
	limit := a.MaxImportBytes
	if limit <= 0 {
		limit = DefaultMaxImportBytes
	}
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return a.fail(c, errImportTooLarge)
	}
	// c.Body() would drain a streamed body into memory: only call it when
	// the app did not stream.
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		r = bytes.NewReader(c.Body())
	}
	// The standard library's cap: past limit bytes, reads fail with
	// *http.MaxBytesError, which problemFor answers with 413.
	res, err := a.Store.BulkLoad(http.MaxBytesReader(nil, io.NopCloser(r), limit), format)
	if err != nil {
		return a.fail(c, err)
	}
	return c.JSON(res)
}

var (
	errImportTooLarge = newProblem(http.StatusRequestEntityTooLarge, "too-large", "the file is larger than the import limit")
	errBodyTooLarge   = newProblem(http.StatusRequestEntityTooLarge, "too-large", "the body is larger than the limit")
)

// body returns a JSON body of at most MaxBodyBytes.
func (a *API) body(c *fiber.Ctx) ([]byte, error) {
	limit := a.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if cl := c.Request().Header.ContentLength(); cl > limit {
		return nil, errBodyTooLarge
	}
	s := c.Context().RequestBodyStream()
	if s == nil {
		if b := c.Body(); len(b) <= limit {
			return b, nil
		}
		return nil, errBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(s, int64(limit)+1))
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, "invalid", "reading the body: "+err.Error())
	}
	if len(b) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

func (a *API) readSubscriber(c *fiber.Ctx) (Subscriber, error) {
	b, err := a.body(c)
	if err != nil {
		return Subscriber{}, err
	}
	return decodeSubscriber(b)
}

// target is the subscriber a write is about and the version it expects.
func target(c *fiber.Ctx) (MSISDN, uint64, error) {
	m, err := pathMSISDN(c)
	if err != nil {
		return 0, 0, err
	}
	v, err := ifMatch(c.Get(fiber.HeaderIfMatch))
	return m, v, err
}

func pathMSISDN(c *fiber.Ctx) (MSISDN, error) {
	s, err := url.PathUnescape(c.Params("msisdn"))
	if err != nil {
		return 0, invalid("msisdn", "bad escaping in the path")
	}
	return parseMSISDN(s, "msisdn")
}

// parseMSISDN takes a number in the path or query. Stored numbers come back
// in canonical form and are taken as they are (a tombstone's number must
// stay addressable); anything else must be a valid number.
func parseMSISDN(s, field string) (MSISDN, error) {
	if v, ok := e164.ParseCanonical(s); ok {
		return MSISDN(v), nil
	}
	if v, ok := e164.ParseCanonical("+" + s); ok {
		return MSISDN(v), nil
	}
	v, err := e164.Parse(s)
	if err != nil {
		return 0, &FieldError{Field: field, Reason: err.Error(), err: err}
	}
	return MSISDN(v), nil
}

// ifMatch reads the version an If-Match header names: `"3"`, `W/"3"` or 3;
// "*" or nothing means any version.
func ifMatch(h string) (uint64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0, nil
	}
	t := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || v == 0 {
		return 0, invalid("If-Match", "must be the subscriber's version as its ETag gives it, such as \"3\"")
	}
	return v, nil
}
