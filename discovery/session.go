package discovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// An operator-selection session lives in its session_id: who asked (the SP's
// client id), where to send the person back (Redirect_URL), the discovery
// call's correlation_id, and an expiry, MACed so that nobody can change them
// or mint one. No node keeps any state, so any node sharing the key can
// serve the page and nothing has to be cleaned up.
//
// Layout before base64url: version (1 byte), expiry (unix seconds, 8 bytes
// big-endian), then client id, Redirect_URL and correlation id, each
// uvarint-length-prefixed; then HMAC-SHA256 over a context label and all of
// the above.

type session struct {
	clientID       string
	redirectURL    string
	correlationID  string
	hasCorrelation bool
	expires        time.Time
}

type sessionCodec struct {
	key []byte
	ttl time.Duration
}

const (
	sessionVersion = 1
	// sessionLabel binds the MAC to this use of the key.
	sessionLabel = "mcfed discovery operator-selection session\x00"
	// maxSessionLen bounds what open will decode: a Redirect_URL is at
	// most 2048 bytes (registry), a correlation id has no such bound but
	// anything this long is not one.
	maxSessionLen = 8 << 10
)

var errSession = errors.New("the operator-selection session is not valid or has expired")

func (c *sessionCodec) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(sessionLabel))
	m.Write(payload)
	return m.Sum(nil)
}

// seal makes a session_id for s, expiring ttl after now.
func (c *sessionCodec) seal(s session, now time.Time) string {
	p := make([]byte, 0, 64+len(s.clientID)+len(s.redirectURL)+len(s.correlationID))
	p = append(p, sessionVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(now.Add(c.ttl).Unix()))
	var flags byte
	if s.hasCorrelation {
		flags = 1
	}
	p = append(p, flags)
	for _, f := range []string{s.clientID, s.redirectURL, s.correlationID} {
		p = binary.AppendUvarint(p, uint64(len(f)))
		p = append(p, f...)
	}
	p = append(p, c.mac(p)...)
	return base64.RawURLEncoding.EncodeToString(p)
}

// open checks a session_id's MAC and expiry and returns its session.
func (c *sessionCodec) open(id string, now time.Time) (session, error) {
	if id == "" || len(id) > maxSessionLen {
		return session{}, errSession
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < 1+8+1+sha256.Size {
		return session{}, errSession
	}
	payload, tag := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if !hmac.Equal(tag, c.mac(payload)) || payload[0] != sessionVersion {
		return session{}, errSession
	}
	s := session{expires: time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)}
	if !now.Before(s.expires) {
		return session{}, errSession
	}
	s.hasCorrelation = payload[9]&1 != 0
	rest := payload[10:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return session{}, errSession
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return session{}, errSession
	}
	s.clientID, s.redirectURL, s.correlationID = fields[0], fields[1], fields[2]
	return s, nil
}
