package idgw

import (
	"encoding/json"
	"fmt"
	"time"
)

// The stored forms of the gateway's login state. The state store (Store)
// holds bytes, and another node of the operator may read what this one
// wrote, so each record has a JSON form of its own, with short names: it
// is the wire format between an operator's nodes and across a restart,
// changed only compatibly (a new field may be added; none renamed).
//
// What a record refers to is kept by name and looked up again when it is
// read: an authenticator by its name in this node's router, the SP by its
// client_id in the registry (AuthRequest.Client is not stored), so a
// record never carries a stale copy of either.

type subjectRecord struct {
	PCR    string `json:"p"`
	Holder []byte `json:"h"`
}

func (s subject) record() subjectRecord { return subjectRecord{PCR: s.pcr, Holder: s.holder[:]} }

func (r subjectRecord) subject() (subject, error) {
	s := subject{pcr: r.PCR}
	if err := fill(s.holder[:], r.Holder, "holder"); err != nil {
		return subject{}, err
	}
	return s, nil
}

// fill copies a fixed-size digest out of a record.
func fill(dst, src []byte, what string) error {
	if len(src) != len(dst) {
		return fmt.Errorf("idgw: stored %s has %d bytes, want %d", what, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

type pageRecord struct {
	Look   Look   `json:"l"`
	Lang   string `json:"g"`
	SP     string `json:"s"`
	Number string `json:"n"`
	Match  string `json:"m,omitempty"`
}

func (p pageContext) record() pageRecord {
	return pageRecord{Look: p.look, Lang: p.lang, SP: p.sp, Number: p.number, Match: p.match}
}

func (r pageRecord) page() pageContext {
	return pageContext{look: r.Look, lang: r.Lang, sp: r.SP, number: r.Number, match: r.Match}
}

// sessionRecord is an authSession. Version counts its writes, so that a
// node writing back a session another node changed meanwhile notices.
type sessionRecord struct {
	Req        *AuthRequest  `json:"r"`
	MSISDN     uint64        `json:"m"`
	Subject    subjectRecord `json:"u"`
	Candidates []string      `json:"c"`
	Current    int           `json:"i"`
	State      []byte        `json:"s,omitempty"`
	PollKey    []byte        `json:"p"`
	RepollKey  []byte        `json:"q"`
	Binding    []byte        `json:"b"`
	Page       pageRecord    `json:"g"`
	Browser    bool          `json:"w,omitempty"`
	Decoy      bool          `json:"d,omitempty"`
	Version    uint64        `json:"v"`
	// ByURL: the re-poll key's record was written too (a request
	// object's login). Known says ByURL is recorded: a node before it
	// wrote that record for every login, and the end of a session it
	// wrote removes both.
	ByURL bool `json:"k,omitempty"`
	Known bool `json:"kk,omitempty"`
}

func (s *authSession) record() sessionRecord {
	names := make([]string, len(s.candidates))
	for i, c := range s.candidates {
		names[i] = c.Name
	}
	return sessionRecord{Req: s.req, MSISDN: s.msisdn, Subject: s.subject.record(), Candidates: names,
		Current: s.current, State: s.state, PollKey: s.pollKey[:], RepollKey: s.repollKey[:], Binding: s.binding[:],
		Page: s.page.record(), Browser: s.browser, Decoy: s.decoy, Version: s.version, ByURL: s.byURL, Known: true}
}

// session rebuilds an authSession, its authenticators from this node's
// router.
func (r sessionRecord) session(router *Router, reg Registry) (*authSession, error) {
	if err := restoreClient(r.Req, reg); err != nil {
		return nil, err
	}
	s := &authSession{req: r.Req, msisdn: r.MSISDN, current: r.Current, state: r.State,
		page: r.Page.page(), browser: r.Browser, decoy: r.Decoy, version: r.Version, stored: true,
		byURL: r.ByURL || !r.Known}
	var err error
	if s.subject, err = r.Subject.subject(); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		dst  []byte
		src  []byte
		what string
	}{{s.pollKey[:], r.PollKey, "poll key"}, {s.repollKey[:], r.RepollKey, "re-poll key"}, {s.binding[:], r.Binding, "binding"}} {
		if err := fill(f.dst, f.src, f.what); err != nil {
			return nil, err
		}
	}
	for _, name := range r.Candidates {
		a, ok := router.byName(name)
		if !ok {
			return nil, fmt.Errorf("idgw: stored session names authenticator %q, which this node does not run", name)
		}
		s.candidates = append(s.candidates, a)
	}
	if s.current >= len(s.candidates) {
		return nil, fmt.Errorf("idgw: stored session's current authenticator %d is out of range", s.current)
	}
	return s, nil
}

type grantRecord struct {
	Req      *AuthRequest  `json:"r"`
	MSISDN   uint64        `json:"m"`
	Subject  subjectRecord `json:"u"`
	ACR      int           `json:"a"`
	AMR      []string      `json:"x"`
	AuthTime time.Time     `json:"t"`
	SID      string        `json:"d,omitempty"`
}

func (g *grant) record() grantRecord {
	return grantRecord{Req: g.req, MSISDN: g.msisdn, Subject: g.subject.record(), ACR: g.acr, AMR: g.amr, AuthTime: g.authTime, SID: g.sid}
}

func (r grantRecord) grant(reg Registry) (*grant, error) {
	if err := restoreClient(r.Req, reg); err != nil {
		return nil, err
	}
	sub, err := r.Subject.subject()
	if err != nil {
		return nil, err
	}
	return &grant{req: r.Req, msisdn: r.MSISDN, subject: sub, acr: r.ACR, amr: r.AMR, authTime: r.AuthTime, sid: r.SID}, nil
}

// restoreClient gives a stored request its SP's current record; an SP no
// longer registered ends what the request began.
func restoreClient(req *AuthRequest, reg Registry) error {
	if req == nil {
		return fmt.Errorf("idgw: stored record has no request")
	}
	if req.ClientID == ownLoginClient {
		req.Client = ownClient(req) // the gateway's own login (services.go)
		return nil
	}
	if req.Client = reg.ServiceProvider(req.ClientID); req.Client == nil {
		return fmt.Errorf("idgw: the SP %q of a stored request is no longer registered", req.ClientID)
	}
	return nil
}

type browserRecord struct {
	MSISDN   uint64              `json:"m"`
	AuthTime time.Time           `json:"t"`
	ACR      int                 `json:"a"`
	AMR      []string            `json:"x"`
	Holder   []byte              `json:"h"`
	Approved map[string][]string `json:"o"`
	SID      string              `json:"d,omitempty"`
}

type consentRecord struct {
	Grant   grantRecord `json:"r"`
	Binding []byte      `json:"b"`
	Page    pageRecord  `json:"g"`
}

type tokenRecord struct {
	ClientID string        `json:"c"`
	MSISDN   uint64        `json:"m"`
	Holder   []byte        `json:"h"`
	Scopes   []string      `json:"s"`
	Claims   ClaimsRequest `json:"l,omitempty"`
	ACR      int           `json:"a"`
	Issued   time.Time     `json:"i"`
	Expires  time.Time     `json:"e"`
	Refresh  bool          `json:"r,omitempty"`
	Family   []byte        `json:"f"`
	AuthTime time.Time     `json:"t,omitzero"`
}

type familyRecord struct {
	ClientID string `json:"c"`
	MSISDN   uint64 `json:"m"`
	Access   []byte `json:"a"`
	Refresh  []byte `json:"r"`
	SID      string `json:"s,omitempty"`
}

// codec turns a value of the gateway's state into bytes and back.
type codec[V any] struct {
	enc func(V) ([]byte, error)
	dec func([]byte) (V, error)
}

// jsonCodec stores V through its record form R.
func jsonCodec[V, R any](toRecord func(V) R, fromRecord func(R) (V, error)) codec[V] {
	return codec[V]{
		enc: func(v V) ([]byte, error) { return json.Marshal(toRecord(v)) },
		dec: func(b []byte) (V, error) {
			var r R
			if err := json.Unmarshal(b, &r); err != nil {
				var zero V
				return zero, fmt.Errorf("idgw: decoding a stored record: %w", err)
			}
			return fromRecord(r)
		},
	}
}

// keyCodec stores a storeKey as its 32 bytes.
var keyCodec = codec[storeKey]{
	enc: func(k storeKey) ([]byte, error) { return k[:], nil },
	dec: func(b []byte) (storeKey, error) {
		var k storeKey
		return k, fill(k[:], b, "key")
	},
}

// stringCodec stores a string as its bytes.
var stringCodec = codec[string]{
	enc: func(s string) ([]byte, error) { return []byte(s), nil },
	dec: func(b []byte) (string, error) { return string(b), nil },
}

// The codecs of records that refer to the registry and the router read
// the gateway's at each decoding.

func grantCodec(gw *Gateway) codec[*grant] {
	return jsonCodec(func(g *grant) grantRecord { return g.record() },
		func(r grantRecord) (*grant, error) { return r.grant(gw.cfg.Registry) })
}

func sessionCodec(gw *Gateway) codec[*authSession] {
	return jsonCodec(func(s *authSession) sessionRecord { return s.record() },
		func(r sessionRecord) (*authSession, error) { return r.session(gw.cfg.Router, gw.cfg.Registry) })
}

var browserCodec = jsonCodec(
	func(s *browserSession) browserRecord {
		return browserRecord{MSISDN: s.msisdn, AuthTime: s.authTime, ACR: s.acr, AMR: s.amr, Holder: s.holder[:], Approved: s.approved, SID: s.sid}
	},
	func(r browserRecord) (*browserSession, error) {
		s := &browserSession{msisdn: r.MSISDN, authTime: r.AuthTime, acr: r.ACR, amr: r.AMR, approved: r.Approved, sid: r.SID}
		return s, fill(s.holder[:], r.Holder, "holder")
	})

func consentCodec(gw *Gateway) codec[*pendingConsent] {
	return jsonCodec(
		func(p *pendingConsent) consentRecord {
			return consentRecord{Grant: p.grant.record(), Binding: p.binding[:], Page: p.page.record()}
		},
		func(r consentRecord) (*pendingConsent, error) {
			gr, err := r.Grant.grant(gw.cfg.Registry)
			if err != nil {
				return nil, err
			}
			p := &pendingConsent{grant: gr, page: r.Page.page()}
			return p, fill(p.binding[:], r.Binding, "binding")
		})
}

var tokenCodec = jsonCodec(
	func(t *accessToken) tokenRecord {
		return tokenRecord{ClientID: t.clientID, MSISDN: t.msisdn, Holder: t.holder[:], Scopes: t.scopes, Claims: t.claims,
			ACR: t.acr, Issued: t.issued, Expires: t.expires, Refresh: t.refresh, Family: t.family[:], AuthTime: t.authTime}
	},
	func(r tokenRecord) (*accessToken, error) {
		t := &accessToken{clientID: r.ClientID, msisdn: r.MSISDN, scopes: r.Scopes, claims: r.Claims, acr: r.ACR,
			issued: r.Issued, expires: r.Expires, refresh: r.Refresh, authTime: r.AuthTime}
		if err := fill(t.holder[:], r.Holder, "holder"); err != nil {
			return nil, err
		}
		return t, fill(t.family[:], r.Family, "family")
	})

var familyCodec = jsonCodec(
	func(f tokenFamily) familyRecord {
		return familyRecord{ClientID: f.clientID, MSISDN: f.msisdn, Access: f.access[:], Refresh: f.refresh[:], SID: f.sid}
	},
	func(r familyRecord) (tokenFamily, error) {
		f := tokenFamily{clientID: r.ClientID, msisdn: r.MSISDN, sid: r.SID}
		if err := fill(f.access[:], r.Access, "access"); err != nil {
			return f, err
		}
		return f, fill(f.refresh[:], r.Refresh, "refresh")
	})
