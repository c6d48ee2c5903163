package discovery

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mcfed/mcfed/registry"
)

// Discovery answers are written by hand into a pooled buffer: they are the
// hot path's only output and their shape is fixed. What depends only on the
// operator or only on the SP is rendered once per registry row (fragments);
// what depends on the SP and the serving operator (the SP's client secret
// there included) is put together from them once per pair and registry
// generation (answerParts, spcache.go), so a request escapes and copies
// just its own values: ttl, subscriber_id and correlation_id.

// answer is what a 200 discovery answer is made of.
type answer struct {
	parts          *answerParts
	subscriberID   []byte // hex; nil when no number was given
	correlationID  []byte
	hasCorrelation bool
	ttlMillis      int64 // absolute, epoch milliseconds
}

// appendAnswer renders spec §1.2(a) with §7's refinements: subscriber_id at
// the top level (Java, PHP) and in response (Android); every link rel an SDK
// reads, including Android's legacy "authorize" and "tokenrefresh" (the
// token endpoint, which refreshes too).
func appendAnswer(b []byte, a *answer) []byte {
	b = append(b, `{"ttl":`...)
	b = strconv.AppendInt(b, a.ttlMillis, 10)
	if a.subscriberID != nil {
		b = append(b, `,"subscriber_id":"`...)
		b = append(b, a.subscriberID...) // hex: nothing to escape
		b = append(b, '"')
	}
	if a.hasCorrelation {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, a.correlationID)
	}
	b = append(b, a.parts.response...)
	if a.subscriberID != nil {
		b = append(b, `,"subscriber_id":"`...)
		b = append(b, a.subscriberID...)
		b = append(b, '"')
	}
	return append(b, a.parts.apis...)
}

// answerParts are the parts of an answer that depend on the SP and the
// serving operator alone: the response object up to the subscriber_id it
// may hold, and the rest.
type answerParts struct {
	op       *registry.Operator // the row rendered
	response []byte             // ,"response":{"serving_operator":...,"client_name":...
	apis     []byte             // ,"apis":{...}}}}
}

// renderParts puts an SP's and an operator's fragments together with the
// SP's client secret at that operator.
func renderParts(op *opFragments, sp *spFragments, secret string) *answerParts {
	p := &answerParts{op: op.op}
	b := append([]byte(nil), `,"response":{`...)
	b = append(b, op.head...)
	b = append(b, sp.id...)
	b = append(b, `,"client_secret":`...)
	b = appendJSONString(b, secret)
	p.response = append(b, sp.name...)
	b = append([]byte(nil), `,"apis":{"operatorid":{"link":[`...)
	b = append(b, op.links...)
	b = append(b, sp.links...)
	p.apis = append(b, `]}}}}`...)
	return p
}

// opFragments are the parts of an answer that depend on the operator
// alone, rendered once per version of its registry row.
type opFragments struct {
	op    *registry.Operator
	head  []byte // "serving_operator":...,"country":...,"currency":...
	links []byte // the operator's links, authorization to issuer
}

func renderOperator(op *registry.Operator) *opFragments {
	f := &opFragments{op: op}
	b := append([]byte(nil), `"serving_operator":`...)
	b = appendJSONString(b, op.Name)
	b = append(b, `,"country":`...)
	b = appendJSONString(b, op.Country)
	b = append(b, `,"currency":`...)
	f.head = appendJSONString(b, op.Currency)
	u := op.URLs()
	b = appendLink(nil, "authorization", u.Authorization, false)
	b = appendLink(b, "authorize", u.Authorization, true)
	b = appendLink(b, "token", u.Token, true)
	b = appendLink(b, "tokenrefresh", u.Token, true)
	b = appendLink(b, "tokenrevoke", u.Revocation, true)
	b = appendLink(b, "userinfo", u.UserInfo, true)
	b = appendLink(b, "premiuminfo", u.PremiumInfo, true)
	b = appendLink(b, "jwks", u.JWKS, true)
	b = appendLink(b, "openid-configuration", u.OpenIDConfiguration, true)
	f.links = appendLink(b, "issuer", op.Issuer, true)
	return f
}

// spFragments are the parts that depend on the SP alone.
type spFragments struct {
	sp    *registry.ServiceProvider
	id    []byte // ,"client_id":... (the leading comma follows the operator's head)
	name  []byte // ,"client_name":...
	links []byte // ,{"rel":"scope",...},{"rel":"applicationShortName",...}
}

func renderSP(sp *registry.ServiceProvider) *spFragments {
	f := &spFragments{sp: sp}
	f.id = appendJSONString(append([]byte(nil), `,"client_id":`...), sp.ClientID)
	f.name = appendJSONString(append([]byte(nil), `,"client_name":`...), sp.Name)
	b := append([]byte(nil), `,{"rel":"scope","href":"`...)
	for i, s := range sp.Scopes {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendJSONStringBody(b, s)
	}
	b = append(b, `"}`...)
	f.links = appendLink(b, "applicationShortName", sp.Name, true)
	return f
}

// fragments caches rendered fragments by operator id and client id. The
// registry replaces a row whenever it changes, so an entry is current while
// it holds the very row the registry returns; otherwise it is rendered
// again. Stale entries of deleted rows stay until their id is seen again:
// a few hundred bytes per id ever served.
type fragments struct {
	ops, sps sync.Map // id → *opFragments / *spFragments
}

func (c *fragments) operator(op *registry.Operator) *opFragments {
	if v, ok := c.ops.Load(op.ID); ok && v.(*opFragments).op == op {
		return v.(*opFragments)
	}
	f := renderOperator(op)
	c.ops.Store(op.ID, f)
	return f
}

func (c *fragments) serviceProvider(sp *registry.ServiceProvider) *spFragments {
	if v, ok := c.sps.Load(sp.ClientID); ok && v.(*spFragments).sp == sp {
		return v.(*spFragments)
	}
	f := renderSP(sp)
	c.sps.Store(sp.ClientID, f)
	return f
}

func appendLink(b []byte, rel, href string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, `{"rel":"`...)
	b = append(b, rel...) // constants of this file: nothing to escape
	b = append(b, `","href":`...)
	b = appendJSONString(b, href)
	return append(b, '}')
}

// appendSelection renders the 202 body (and the body of the 302, which
// browsers ignore): the operatorSelection link, which the Java SDK finds by
// rel and Android takes as links[0].
func appendSelection(b []byte, href string, correlationID []byte, hasCorrelation bool) []byte {
	b = append(b, `{"links":[{"rel":"operatorSelection","href":`...)
	b = appendJSONString(b, href)
	b = append(b, `}]`...)
	if hasCorrelation {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, correlationID)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, quoted.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes appendJSONStringBody copies as they are:
// one table lookup a byte on the hot path (secrets, correlation ids).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONStringBody appends s escaped as encoding/json would (HTML
// characters, U+2028 and U+2029 escaped; invalid UTF-8 replaced by U+FFFD),
// so that a correlation id decodes to exactly the bytes sent whenever they
// are valid UTF-8.
func appendJSONStringBody[S string | []byte](b []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		var (
			r    rune
			size int
		)
		if str, ok := any(s).(string); ok {
			r, size = utf8.DecodeRuneInString(str[i:])
		} else {
			r, size = utf8.DecodeRune([]byte(s[i:]))
		}
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// joinURL appends a query parameter to a URL that may already have a query.
func joinURL(base string, params ...string) string {
	var sb strings.Builder
	sb.WriteString(base)
	sep := byte('?')
	if strings.IndexByte(base, '?') >= 0 {
		sep = '&'
	}
	for i := 0; i+1 < len(params); i += 2 {
		sb.WriteByte(sep)
		sep = '&'
		sb.WriteString(params[i])
		sb.WriteByte('=')
		sb.WriteString(params[i+1])
	}
	return sb.String()
}
