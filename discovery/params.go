package discovery

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/netip"

	"github.com/mcfed/mcfed/internal/e164"
)

// rawRequest is all discovery reads from an HTTP request, so that parsing is
// a pure function of bytes (and can be fuzzed without a server).
type rawRequest struct {
	Query         []byte // the query string, without '?'
	Body          []byte
	ContentType   []byte
	Authorization []byte
	Accept        []byte
	SourceIP      []byte // the X-Source-IP header
}

// request is a parsed discovery request. Its byte slices point into the
// parser's buffers: they are valid until the parser is reset.
type request struct {
	clientID, secret []byte
	redirectURL      []byte
	correlationID    []byte
	hasCorrelation   bool   // correlation_id was sent, possibly empty: echo it
	msisdn           uint64 // 0 when no MSISDN was sent
	selected         network
	identified       network
	localIP          netip.Addr // Local-Client-IP, when valid
	sourceIP         netip.Addr // X-Source-IP, when valid
	wantJSON         bool       // Accept names application/json
}

// network is an MCC/MNC pair; mcc is nil when the pair was not given.
type network struct{ mcc, mnc []byte }

// The parameters discovery reads, matched case-insensitively. Everything
// else (Using-Mobile-Data, Manually-Select, Ignore-Cookies, ...) is ignored.
const (
	pRedirectURL = iota
	pMSISDN
	pSelectedMCC
	pSelectedMNC
	pIdentifiedMCC
	pIdentifiedMNC
	pLocalClientIP
	pCorrelationID
	nParams
)

var paramNames = [nParams]string{
	pRedirectURL:   "redirect_url",
	pMSISDN:        "msisdn",
	pSelectedMCC:   "selected-mcc",
	pSelectedMNC:   "selected-mnc",
	pIdentifiedMCC: "identified-mcc",
	pIdentifiedMNC: "identified-mnc",
	pLocalClientIP: "local-client-ip",
	pCorrelationID: "correlation_id",
}

// parser holds the buffers of one request's parsing; handlers take one from
// a pool, so a request costs no allocation for its parameters.
type parser struct {
	vals    [nParams][]byte
	present [nParams]bool
	dec     []byte // decoded values, for those that were encoded
	key     []byte // an encoded parameter name, decoded
	auth    []byte // decoded Basic credentials
	sub     []byte // the hex subscriber_id
	req     request
}

func (p *parser) reset() {
	p.dec = p.dec[:0]
	p.vals = [nParams][]byte{}
	p.present = [nParams]bool{}
	clear(p.auth) // the last request's secret does not linger in the pool
	p.auth = p.auth[:0]
	p.req = request{}
}

// scan records the parameters of a urlencoded query or body as
// fasthttp.Args reads them ('&' between pairs, the first '=' between name
// and value, %XX and '+' decoded), without copying what it does not read:
// a name is decoded only when encoded, a value only when discovery reads
// it and it is encoded. Decoded values go to p.dec, whose capacity parse
// sets to cover every input, so that appending never moves the values
// already there. The body is scanned before the query and the first
// non-empty value wins, as a form field overrides a query parameter in
// most server frameworks.
func (p *parser) scan(s []byte) {
	for len(s) > 0 {
		pair := s
		if i := bytes.IndexByte(s, '&'); i >= 0 {
			pair, s = s[:i], s[i+1:]
		} else {
			s = nil
		}
		k, v := pair, pair[len(pair):]
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		}
		if encoded(k) {
			p.key = decodeArg(p.key[:0], k)
			k = p.key
		}
		i := paramIndex(k)
		if i < 0 {
			continue
		}
		p.present[i] = true
		if len(p.vals[i]) == 0 {
			if encoded(v) {
				start := len(p.dec)
				p.dec = decodeArg(p.dec, v)
				v = p.dec[start:len(p.dec):len(p.dec)]
			}
			p.vals[i] = v
		}
	}
}

// paramIndex is the index of the parameter named k (any case), or -1.
func paramIndex(k []byte) int {
	for i := range paramNames {
		if len(k) == len(paramNames[i]) && asciiEqualFold(k, paramNames[i]) {
			return i
		}
	}
	return -1
}

// encoded reports whether b has anything urlencoding decodes.
func encoded(b []byte) bool {
	return bytes.IndexByte(b, '%') >= 0 || bytes.IndexByte(b, '+') >= 0
}

// decodeArg appends src to dst with %XX and '+' decoded exactly as
// fasthttp does: a '%' not followed by two hex digits stays as it is. Runs
// of plain bytes are copied whole.
func decodeArg(dst, src []byte) []byte {
	for {
		i := 0
		for i < len(src) && src[i] != '%' && src[i] != '+' {
			i++
		}
		dst = append(dst, src[:i]...)
		if i == len(src) {
			return dst
		}
		if src[i] == '+' {
			dst = append(dst, ' ')
			src = src[i+1:]
			continue
		}
		if i+2 >= len(src) {
			return append(dst, src[i:]...)
		}
		hi, ok1 := unhex(src[i+1])
		lo, ok2 := unhex(src[i+2])
		if !ok1 || !ok2 {
			dst = append(dst, '%')
			src = src[i+1:]
			continue
		}
		dst = append(dst, hi<<4|lo)
		src = src[i+3:]
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parse reads raw into p.req and returns nil or the protocol error to
// answer. A 401 is reported before anything else is checked; on a 400 the
// credentials are filled in, so the handler authenticates the SP before it
// reports the bad request (an unauthenticated caller learns nothing about
// its parameters). The correlation id is always filled in.
func (p *parser) parse(raw *rawRequest) *protoError {
	p.reset()
	if n := len(raw.Body) + len(raw.Query); cap(p.dec) < n {
		p.dec = make([]byte, 0, n)
	}
	if len(raw.Body) > 0 && isForm(raw.ContentType) {
		p.scan(raw.Body)
	}
	p.scan(raw.Query)
	r := &p.req
	r.correlationID, r.hasCorrelation = p.vals[pCorrelationID], p.present[pCorrelationID]
	r.wantJSON = containsFold(raw.Accept, "application/json")

	var err *protoError
	p.auth, r.clientID, r.secret, err = parseBasic(raw.Authorization, p.auth)
	if err != nil {
		return err
	}

	r.redirectURL = p.vals[pRedirectURL]
	if len(r.redirectURL) == 0 {
		return errBadRequest("Invalid_Redirect_URL: Redirect_URL is required")
	}
	if v := p.vals[pMSISDN]; len(v) > 0 {
		n, err := parseMSISDN(v)
		if err != nil {
			return err
		}
		r.msisdn = n
	}
	sel, ok := parseNetwork(p.vals[pSelectedMCC], p.vals[pSelectedMNC])
	if !ok {
		// The SP got these from our own operator-selection callback: a
		// malformed pair is a bug worth reporting, not a hint to ignore.
		return errBadRequest("Selected-MCC and Selected-MNC must be given together, as 3 and 2-3 digits")
	}
	r.selected = sel
	// Identified-MCC/MNC come from the device's SIM through the app: a hint,
	// used when well-formed and otherwise ignored.
	if id, ok := parseNetwork(p.vals[pIdentifiedMCC], p.vals[pIdentifiedMNC]); ok {
		r.identified = id
	}
	r.localIP = parseIP(p.vals[pLocalClientIP])
	r.sourceIP = parseIP(raw.SourceIP)
	return nil
}

// parseMSISDN accepts the number with or without '+'. What SDKs send (digits,
// perhaps a '+') takes e164's compiled validator (well under a
// microsecond); anything else (WSO2 forwards what the user typed, spaces and
// all) takes e164.Parse, which gives the same verdict for the same number.
func parseMSISDN(v []byte) (uint64, *protoError) {
	var (
		n   uint64
		err error
	)
	if plainDigits(v) {
		n, err = e164.FastValidator().Check(v)
	} else {
		n, err = e164.Parse(string(v))
	}
	if err != nil {
		var ne *e164.Error
		if errors.As(err, &ne) {
			return 0, errBadRequest("MSISDN is not a valid number: " + ne.Reason)
		}
		return 0, errBadRequest("MSISDN is not a valid number")
	}
	return n, nil
}

// plainDigits reports whether v is digits with an optional leading '+'.
func plainDigits(v []byte) bool {
	if len(v) > 0 && v[0] == '+' {
		v = v[1:]
	}
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseNetwork checks an MCC/MNC pair: both absent (ok, nothing), or 3 and
// 2-3 digits.
func parseNetwork(mcc, mnc []byte) (network, bool) {
	if len(mcc) == 0 && len(mnc) == 0 {
		return network{}, true
	}
	if len(mcc) != 3 || len(mnc) < 2 || len(mnc) > 3 || !allDigits(mcc) || !allDigits(mnc) {
		return network{}, false
	}
	return network{mcc: mcc, mnc: mnc}, true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseIP reads an address header or parameter: the first of a
// comma-separated list (proxies append), white space trimmed. Anything
// unparsable is no address: IP matching is a hint, never an error.
func parseIP(v []byte) netip.Addr {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > 64 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(string(v))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// maxAuthorization bounds the Authorization header discovery decodes;
// registry client ids are at most 128 bytes and secrets are keys, not essays.
const maxAuthorization = 2048

// parseBasic decodes "Basic base64(client_id:client_secret)" (RFC 7617) into
// buf, returning the grown buffer and the two halves, which point into it.
func parseBasic(h, buf []byte) ([]byte, []byte, []byte, *protoError) {
	h = bytes.TrimSpace(h)
	if len(h) == 0 {
		return buf, nil, nil, errUnauthorized("Basic client credentials are required")
	}
	sp := bytes.IndexByte(h, ' ')
	if sp < 0 || !asciiEqualFold(h[:sp], "basic") {
		return buf, nil, nil, errUnauthorized("use HTTP Basic authentication with the SP's client_id and client_secret")
	}
	tok := bytes.TrimSpace(h[sp+1:])
	if len(tok) > maxAuthorization {
		return buf, nil, nil, errUnauthorized("the Basic credentials are too long")
	}
	enc := base64.StdEncoding
	if len(tok)%4 != 0 {
		enc = base64.RawStdEncoding // some clients drop the padding
	}
	buf = append(buf[:0], make([]byte, enc.DecodedLen(len(tok)))...)
	n, err := enc.Decode(buf, tok)
	if err == nil {
		buf = buf[:n]
		if i := bytes.IndexByte(buf, ':'); i > 0 && clientIDChars(buf[:i]) {
			return buf, buf[:i], buf[i+1:], nil
		}
	}
	if len(tok) == 64 && isHex(tok) {
		// The legacy Android SDK's "sha256" credentials mode sends
		// Basic <hex sha256(key:secret)>: a digest the registry's hash
		// cannot be checked against. Hex digits are base64 too, so this
		// is told apart by what they decode to: no client id and ':'.
		return buf, nil, nil, errUnauthorized("Basic credentials must be base64(client_id:client_secret); the hashed (sha256) form is not supported")
	}
	return buf, nil, nil, errUnauthorized("malformed Basic credentials: want base64(client_id:client_secret)")
}

// clientIDChars reports whether b uses only the characters the registry
// allows in a client id.
func clientIDChars(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isForm reports whether a Content-Type is a urlencoded form. A body without
// a Content-Type is read as a form too: Java's HttpURLConnection (WSO2) sends
// one by default, other hand-made clients may not.
func isForm(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	return len(ct) == 0 || asciiEqualFold(ct, "application/x-www-form-urlencoded")
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring
// the case of b.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the lower-case ASCII string s,
// ignoring the case of b.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}
