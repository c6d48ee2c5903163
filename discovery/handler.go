package discovery

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/registry"
)

// Pools for the hot path: a parser (two fasthttp.Args and a base64 buffer)
// and an output buffer per request in flight.
var (
	parsers = sync.Pool{New: func() any { return new(parser) }}
	bodies  = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

// handleDiscovery serves GET and POST /v2/discovery[/].
func (s *Service) handleDiscovery(c *fiber.Ctx) error {
	start := time.Now()
	p := parsers.Get().(*parser)
	rq := c.Request()
	raw := rawRequest{
		Query:         rq.URI().QueryString(),
		Body:          rq.Body(),
		ContentType:   rq.Header.ContentType(),
		Authorization: rq.Header.Peek(fiber.HeaderAuthorization),
		Accept:        rq.Header.Peek(fiber.HeaderAccept),
		SourceIP:      rq.Header.Peek("X-Source-IP"),
	}
	outcome := s.discover(c, p, &raw, start)
	parsers.Put(p)
	s.metrics.ObserveDiscovery(outcome, time.Since(start))
	return nil
}

// discover answers one request, received at start, and returns its outcome.
func (s *Service) discover(c *fiber.Ctx, p *parser, raw *rawRequest, start time.Time) string {
	perr := p.parse(raw)
	r := &p.req
	if !s.ready(c) {
		return s.writeError(c, errNotReady, r)
	}
	if e := s.failureBudgetSpent(c, r.clientID); e != nil {
		return s.writeError(c, e, r)
	}
	if perr != nil && perr.status == http.StatusUnauthorized {
		s.authFailed(c, r.clientID)
		return s.writeError(c, perr, r)
	}
	spe, own := s.authenticate(r.clientID, r.secret)
	if spe == nil {
		s.authFailed(c, r.clientID)
		return s.writeError(c, errBadCredentials, r)
	}
	sp := spe.sp
	if ok, wait := s.perSP.Take(sp.ClientID); !ok {
		return s.writeError(c, errTooMany("too many discovery requests for this client", wait), r)
	}
	if perr != nil {
		return s.writeError(c, perr, r)
	}
	if !registeredRedirect(sp, r.redirectURL) {
		return s.writeError(c, errRedirect, r)
	}

	op, identified := s.resolve(r, spe)
	if op == nil {
		if identified {
			return s.writeError(c, errNotFound, r)
		}
		return s.writeSelection(c, sp, r)
	}

	a := answer{
		parts:          s.answerParts(spe, &own, op),
		correlationID:  r.correlationID,
		hasCorrelation: r.hasCorrelation,
		ttlMillis:      s.clock(start).Add(s.ttl).UnixMilli(),
	}
	outcome := OutcomeFound
	if r.msisdn != 0 {
		sub, sealed, err := s.sealSubscriber(p.sub[:0], op, sp.ClientID, r.msisdn)
		switch {
		case err != nil:
			return s.writeError(c, errInternal, r)
		case !sealed:
			// The operator published no usable key: answer without
			// subscriber_id (its gateway will ask the person for the
			// number) rather than fail the SP, and say so in the metrics.
			outcome = OutcomeUnsealed
		default:
			p.sub = sub
			a.subscriberID = p.sub
		}
	}
	bp := bodies.Get().(*[]byte)
	*bp = appendAnswer((*bp)[:0], &a)
	writeJSON(c, http.StatusOK, *bp)
	bodies.Put(bp)
	return outcome
}

// answerParts are the parts of the answer for the SP of e, authenticated
// with own, at op: from e once rendered for this row of op.
func (s *Service) answerParts(e *spEntry, own *registry.OwnSecret, op *registry.Operator) *answerParts {
	if p, ok := e.parts.load(op.ID); ok && p.op == op {
		return p
	}
	p := renderParts(s.fragments.operator(op), s.fragments.serviceProvider(e.sp), s.secrets.OperatorSecretFor(own, op.ID))
	e.parts.store(op.ID, p)
	return p
}

// resolve finds the operator for r in the order of spec §1.1: MSISDN,
// Selected-MCC/MNC, Identified-MCC/MNC, then the addresses. identified is
// true when the request named the subscriber's operator definitely (a
// number or a network), so that no operator means Not_Found_Entity; an
// address that matches nothing (Wi-Fi, a fixed line) leads to selection.
func (s *Service) resolve(r *request, sp *spEntry) (op *registry.Operator, identified bool) {
	switch {
	case r.msisdn != 0:
		if res, ok := s.reg.Resolve(r.msisdn); ok {
			op = res.Operator
		}
	case r.selected.mcc != nil:
		op = s.reg.OperatorByNetwork(string(r.selected.mcc), string(r.selected.mnc))
	case r.identified.mcc != nil:
		op = s.reg.OperatorByNetwork(string(r.identified.mcc), string(r.identified.mnc))
	default:
		if r.localIP.IsValid() {
			if o := s.reg.OperatorByIP(r.localIP); s.routableFor(o, sp) {
				return o, false
			}
		}
		if r.sourceIP.IsValid() {
			if o := s.reg.OperatorByIP(r.sourceIP); s.routableFor(o, sp) {
				return o, false
			}
		}
		return nil, false
	}
	if !s.routableFor(op, sp) {
		return nil, true
	}
	return op, true
}

// writeSelection sends the SP's user to the operator-selection page: 202
// with the link for JSON clients, 302 for everyone else.
func (s *Service) writeSelection(c *fiber.Ctx, sp *registry.ServiceProvider, r *request) string {
	id := s.sessions.seal(session{
		clientID:       sp.ClientID,
		redirectURL:    string(r.redirectURL),
		correlationID:  string(r.correlationID),
		hasCorrelation: r.hasCorrelation,
	}, s.now())
	href := s.selectionURL + "?session_id=" + id
	status := http.StatusAccepted
	if !r.wantJSON {
		status = http.StatusFound
		c.Set(fiber.HeaderLocation, href)
	}
	bp := bodies.Get().(*[]byte)
	*bp = appendSelection((*bp)[:0], href, r.correlationID, r.hasCorrelation)
	writeJSON(c, status, *bp)
	bodies.Put(bp)
	return OutcomeSelection
}

// failureBudgetSpent is the 429 for a client id or source address whose
// failed authentications are over budget, nil otherwise. The address is
// only worked out once some address has failed.
func (s *Service) failureBudgetSpent(c *fiber.Ctx, clientID []byte) *protoError {
	if len(clientID) > 0 && !s.failedClient.Empty() {
		if spent, wait := s.failedClient.Spent(string(clientID)); spent {
			return errTooMany("too many failed authentications for this client", wait)
		}
	}
	if !s.failedAddress.Empty() {
		if spent, wait := s.failedAddress.Spent(clientaddr.Of(c)); spent {
			return errTooMany("too many failed authentications from this address", wait)
		}
	}
	return nil
}

// authFailed spends the failure budgets of a request whose SP did not
// authenticate, and logs (without credentials) when that spent one.
func (s *Service) authFailed(c *fiber.Ctx, clientID []byte) {
	addr := clientaddr.Of(c)
	byClient := len(clientID) > 0 && s.failedClient.Spend(string(clientID))
	byAddress := s.failedAddress.Spend(addr)
	if byClient || byAddress {
		id := string(clientID)
		if len(id) > 128 {
			id = id[:128]
		}
		s.log.Warn("discovery: SP authentication failures over budget: refusing with 429 for a while",
			"client_id", id, "address", addr, "client_budget_spent", byClient, "address_budget_spent", byAddress)
	}
}

// writeError sends a protocol error and returns its outcome.
func (s *Service) writeError(c *fiber.Ctx, e *protoError, r *request) string {
	if e.status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="mcfed discovery"`)
	}
	if e.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(e.retryAfter))
	}
	bp := bodies.Get().(*[]byte)
	*bp = appendError((*bp)[:0], e, r.correlationID, r.hasCorrelation)
	writeJSON(c, e.status, *bp)
	bodies.Put(bp)
	return e.outcome
}

// writeJSON sends body (copied: the caller reuses it) as application/json,
// the only type Android reads, whatever the request's Accept. Answers carry
// client credentials: no cache may keep them.
func writeJSON(c *fiber.Ctx, status int, body []byte) {
	c.Status(status)
	h := &c.Response().Header
	h.SetContentTypeBytes(mimeJSON)
	// Canonical names already: Set would copy and normalise them.
	h.SetCanonical(headerCacheControl, noStore)
	h.SetCanonical(headerPragma, noCache)
	c.Response().SetBody(body)
}

var (
	mimeJSON           = []byte(fiber.MIMEApplicationJSON)
	headerCacheControl = []byte(fiber.HeaderCacheControl)
	headerPragma       = []byte(fiber.HeaderPragma)
	noStore            = []byte("no-store")
	noCache            = []byte("no-cache")
)
