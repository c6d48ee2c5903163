package discovery

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// The symmetric subscriber_id (registry.FormX25519AESGCM), for gateways that
// are mcfed nodes. The answering node's X25519 key and the operator's agree
// on a secret once (X25519, then HKDF-SHA256 naming both key ids and the
// purpose); each seal is then one AES-256-GCM encryption, each open one
// decryption, instead of an RSA operation (about 1 ms to open).
//
// The sealed value, 61 bytes, lower-case hex (122 digits) like the RSA form:
//
//	version (0x01) | node key id (8) | operator key id (8) | expiry (8, Unix
//	seconds, big-endian) | nonce (12, random) | AES-GCM(MSISDN, 8 bytes
//	big-endian) with its 16-byte tag
//
// The first 25 bytes and the SP's client_id are the associated data: a
// hint refuses to open for another SP (the gateway supplies the client_id
// of the request it came with), after its expiry, or with its header
// changed. The length alone tells the forms apart: an RSA subscriber_id is
// at least 512 digits (RSA-2048 and up), this one 122, and the version byte
// leaves room for another.
//
// Random 96-bit nonces keep collisions negligible up to about 2^32 seals
// under one key, so the key is derived per UTC day of the expiry as well:
// 2^32 seals a day is 49,000 a second to one operator from one node, above
// what a node answers. The day is in the header (it is the expiry's), so
// the gateway derives the same key; both sides cache each day's key.

const (
	symVersion   = 0x01
	symKidLen    = registry.SealKeyIDLen
	symHeaderLen = 1 + 2*symKidLen + 8
	symNonceLen  = 12
	symMSISDNLen = 8
	symTagLen    = 16
	symSealedLen = symHeaderLen + symNonceLen + symMSISDNLen + symTagLen
	symSealedHex = 2 * symSealedLen
	symPurpose   = "mcfed subscriber_id x25519-aes-gcm v1"
)

// MaxSubscriberIDLifetime bounds a symmetric subscriber_id's life: the
// longest Config.SubscriberIDLifetime, and how long a gateway keeps a
// rotated-out key opening.
const MaxSubscriberIDLifetime = 24 * time.Hour

// clockSkew is how far ahead of the gateway's clock the sealing node's may
// run: an expiry later than now + MaxSubscriberIDLifetime + clockSkew was
// not made by a node.
const clockSkew = 5 * time.Minute

// IsSymmetric reports whether subscriberID (hex, without ENCR_MSISDN:) has
// the symmetric form's length, so a gateway picks the opener without trying
// both.
func IsSymmetric(subscriberID string) bool { return len(subscriberID) == symSealedHex }

// SealKeyPair is an X25519 private key with its registry key id.
type SealKeyPair struct {
	Private *ecdh.PrivateKey
	// NotAfter, when set, is when a retired gateway key stops opening.
	NotAfter time.Time
	id       string
	kid      [symKidLen]byte
}

// NewSealKeyPair names priv by its public key's id.
func NewSealKeyPair(priv *ecdh.PrivateKey, notAfter time.Time) SealKeyPair {
	k := SealKeyPair{Private: priv, NotAfter: notAfter, id: registry.SealKeyID(priv.PublicKey().Bytes())}
	base64.RawURLEncoding.Decode(k.kid[:], []byte(k.id))
	return k
}

// Published is the key's public half as the registry records it.
func (k SealKeyPair) Published() registry.SealKey {
	s := registry.SealKey{ID: k.id, X25519: base64.RawURLEncoding.EncodeToString(k.Private.PublicKey().Bytes())}
	if !k.NotAfter.IsZero() {
		s.NotAfter = k.NotAfter.Unix()
	}
	return s
}

// ID is the key's registry key id.
func (k SealKeyPair) ID() string { return k.id }

// NodeSealKeys finds discovery nodes' published seal keys.
type NodeSealKeys interface {
	NodeSealKey(kid string) (registry.SealKey, bool)
}

// symKey names one agreed key: the node's key, the operator's, the day.
type symKey struct {
	node, op [symKidLen]byte
	day      int64
}

// symKeys caches agreed keys. Reads take no lock; a miss copies the map,
// dropping the keys of days more than two away from the new one, so it
// holds a few days of each pair in use.
type symKeys struct {
	mu sync.Mutex
	m  atomic.Pointer[map[symKey]agreedKey]
}

// agreedKey is an agreed AES-GCM key, with the node key's registry id (so
// that a gateway looks the node key up at each open without encoding it).
type agreedKey struct {
	aead    cipher.AEAD
	nodeKid string
}

func (c *symKeys) get(k symKey, derive func() (agreedKey, error)) (agreedKey, error) {
	if m := c.m.Load(); m != nil {
		if a, ok := (*m)[k]; ok {
			return a, nil
		}
	}
	a, err := derive()
	if err != nil {
		return agreedKey{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := map[symKey]agreedKey{k: a}
	if m := c.m.Load(); m != nil {
		for id, v := range *m {
			if d := id.day - k.day; -2 <= d && d <= 2 {
				n[id] = v
			}
		}
	}
	c.m.Store(&n)
	return a, nil
}

// agree derives the AES-256-GCM key of k from priv and the other side's
// public key. X25519 is symmetric: the node (its private key, the
// operator's public) and the gateway (its private key, the node's public)
// reach the same secret.
func agree(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, k symKey) (cipher.AEAD, error) {
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	var salt [2*symKidLen + 8]byte
	copy(salt[:], k.node[:])
	copy(salt[symKidLen:], k.op[:])
	binary.BigEndian.PutUint64(salt[2*symKidLen:], uint64(k.day))
	key, err := hkdf.Key(sha256.New, shared, salt[:], symPurpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

const secondsPerDay = 24 * 60 * 60

// symSealer seals on a discovery node with the node's key.
type symSealer struct {
	// keys are this node's keys, the current one first. A rotation puts
	// the new key first and keeps the one it replaced, with its NotAfter:
	// until the new key is published, the replaced one seals (a gateway
	// could open nothing sealed with an unpublished key).
	keys   atomic.Pointer[[]SealKeyPair]
	reg    NodeSealKeys
	agreed symKeys
}

// newSymSealer seals with keys, the current one first.
func newSymSealer(reg NodeSealKeys, keys ...SealKeyPair) *symSealer {
	s := &symSealer{reg: reg}
	s.keys.Store(&keys)
	return s
}

// errNotPublished: the node's seal key is not in the registry yet, so no
// gateway could open what it sealed.
var errNotPublished = errors.New("this node's seal key is not in the registry yet")

// seal appends to dst the hex subscriber_id of msisdn for the SP clientID,
// sealed to the operator key op, expiring at expiry, with the first of the
// node's keys that is published and lives until expiry: a retired key
// never seals what would outlive its NotAfter, when gateways stop opening
// with it.
func (s *symSealer) seal(dst []byte, op registry.SealKey, clientID string, msisdn uint64, expiry time.Time) ([]byte, error) {
	if msisdn == 0 || msisdn >= 1e15 {
		return nil, fmt.Errorf("seal subscriber_id: %d is not an E.164 number", msisdn)
	}
	var opKid [symKidLen]byte
	if n, err := base64.RawURLEncoding.Decode(opKid[:], []byte(op.ID)); err != nil || n != symKidLen {
		return nil, errors.New("seal subscriber_id: malformed operator key id")
	}
	for _, key := range *s.keys.Load() {
		if !key.NotAfter.IsZero() && expiry.After(key.NotAfter) {
			continue
		}
		out, err := s.sealWith(dst, key, op, opKid, clientID, msisdn, expiry)
		if !errors.Is(err, errNotPublished) {
			return out, err
		}
	}
	return nil, fmt.Errorf("seal subscriber_id: %w", errNotPublished)
}

// sealWith is seal with the node's key key.
func (s *symSealer) sealWith(dst []byte, key SealKeyPair, op registry.SealKey, opKid [symKidLen]byte, clientID string, msisdn uint64, expiry time.Time) ([]byte, error) {
	exp := expiry.Unix()
	k := symKey{node: key.kid, op: opKid, day: exp / secondsPerDay}
	agreed, err := s.agreed.get(k, func() (agreedKey, error) {
		if _, ok := s.reg.NodeSealKey(key.id); !ok {
			return agreedKey{}, errNotPublished
		}
		pub, err := op.Public()
		if err != nil {
			return agreedKey{}, err
		}
		aead, err := agree(key.Private, pub, k)
		return agreedKey{aead, key.id}, err
	})
	if err != nil {
		return nil, fmt.Errorf("seal subscriber_id: %w", err)
	}
	var b [symSealedLen]byte
	b[0] = symVersion
	copy(b[1:], k.node[:])
	copy(b[1+symKidLen:], k.op[:])
	binary.BigEndian.PutUint64(b[1+2*symKidLen:], uint64(exp))
	nonce := b[symHeaderLen : symHeaderLen+symNonceLen]
	rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	pt := b[symHeaderLen+symNonceLen : symHeaderLen+symNonceLen+symMSISDNLen]
	binary.BigEndian.PutUint64(pt, msisdn)
	agreed.aead.Seal(pt[:0], nonce, pt, symAAD(b[:symHeaderLen], clientID))
	return hex.AppendEncode(dst, b[:]), nil
}

// symAAD is the associated data: the header, then the SP's client_id.
func symAAD(header []byte, clientID string) []byte {
	aad := make([]byte, 0, symHeaderLen+len(clientID))
	return append(append(aad, header...), clientID...)
}

// errOpenSym is every failure of SymOpener.Open.
var errOpenSym = fmt.Errorf("open subscriber_id: %w", ErrSubscriberID)

// decodeHex decodes s (either case) into dst, len(s) == 2*len(dst),
// without copying s.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// SymOpener opens symmetric subscriber_ids at an operator's gateway. It is
// safe for concurrent use.
type SymOpener struct {
	nodes NodeSealKeys
	now   func() time.Time
	keys  symKeys
}

// NewSymOpener returns an opener that finds sealing nodes' keys in nodes;
// now is the clock (nil: time.Now).
func NewSymOpener(nodes NodeSealKeys, now func() time.Time) *SymOpener {
	if now == nil {
		now = time.Now
	}
	return &SymOpener{nodes: nodes, now: now}
}

// Open returns the MSISDN sealed in subscriberID (hex, any case) if it was
// sealed to one of keys (the gateway's, retired ones until their
// NotAfter) for the SP clientID, by a node key the registry publishes
// (a retired one until its NotAfter), and has not expired. Any failure is
// ErrSubscriberID, wrapped, with no detail of which check failed.
//
// The node's key is looked up on every open, not only when its agreed key
// is derived: a node key retired, dropped or removed with its node stops
// opening at once, though the agreed key stays cached for its day.
func (o *SymOpener) Open(keys []SealKeyPair, subscriberID, clientID string) (uint64, error) {
	fail := errOpenSym
	var b [symSealedLen]byte
	if len(subscriberID) != symSealedHex || !decodeHex(b[:], subscriberID) || b[0] != symVersion {
		return 0, fail
	}
	now := o.now()
	exp := int64(binary.BigEndian.Uint64(b[1+2*symKidLen:]))
	if now.Unix() > exp || exp > now.Add(MaxSubscriberIDLifetime+clockSkew).Unix() {
		return 0, fail
	}
	var k symKey
	copy(k.node[:], b[1:])
	copy(k.op[:], b[1+symKidLen:])
	k.day = exp / secondsPerDay
	var gw *SealKeyPair
	for i := range keys {
		if keys[i].kid == k.op && (keys[i].NotAfter.IsZero() || !now.After(keys[i].NotAfter)) {
			gw = &keys[i]
			break
		}
	}
	if gw == nil {
		return 0, fail
	}
	agreed, err := o.keys.get(k, func() (agreedKey, error) {
		kid := base64.RawURLEncoding.EncodeToString(k.node[:])
		nk, ok := o.nodes.NodeSealKey(kid)
		if !ok {
			return agreedKey{}, errNotPublished
		}
		pub, err := nk.Public()
		if err != nil {
			return agreedKey{}, err
		}
		aead, err := agree(gw.Private, pub, k)
		return agreedKey{aead, kid}, err
	})
	if err != nil {
		return 0, fail
	}
	// The node key, as the registry publishes it now. A retired one
	// opens until its NotAfter, and only what it sealed to expire by then
	// (as its node seals): the value's expiry bounds it as well, but a
	// retired key that leaked must not seal values that outlive it.
	nk, ok := o.nodes.NodeSealKey(agreed.nodeKid)
	if !ok || nk.NotAfter != 0 && (now.Unix() > nk.NotAfter || exp > nk.NotAfter) {
		return 0, fail
	}
	ct := b[symHeaderLen+symNonceLen:]
	pt, err := agreed.aead.Open(ct[:0], b[symHeaderLen:symHeaderLen+symNonceLen], ct, symAAD(b[:symHeaderLen], clientID))
	if err != nil {
		return 0, fail
	}
	n := binary.BigEndian.Uint64(pt)
	if n == 0 || n >= 1e15 {
		return 0, fail
	}
	return n, nil
}

// configureSym sets up the symmetric form from cfg.
func (s *Service) configureSym(cfg Config) error {
	s.subTTL = cfg.SubscriberIDLifetime
	if s.subTTL <= 0 {
		s.subTTL = min(s.ttl, MaxSubscriberIDLifetime)
	}
	if s.subTTL > MaxSubscriberIDLifetime {
		return fmt.Errorf("discovery: SubscriberIDLifetime %s is over the %s a gateway accepts", s.subTTL, MaxSubscriberIDLifetime)
	}
	if cfg.SealKey != nil {
		if cfg.SealKey.Private == nil || cfg.SealKey.Private.Curve() != ecdh.X25519() {
			return errors.New("discovery: SealKey must be an X25519 key")
		}
		s.sym = newSymSealer(s.reg, *cfg.SealKey)
	}
	return nil
}

// SetSealKeys replaces this node's seal keys after a rotation: the
// current one first, then the one it replaced (with its NotAfter), which
// seals until the current one is published. A Service made without
// Config.SealKey seals RSA only and ignores them.
func (s *Service) SetSealKeys(keys []SealKeyPair) {
	if s.sym != nil && len(keys) > 0 {
		keys = slices.Clone(keys)
		s.sym.keys.Store(&keys)
	}
}

// sealSubscriber appends to dst msisdn's subscriber_id for the SP clientID
// at op, in the form op's gateway opens: the symmetric one when the
// gateway opens it and this node's key is published, else RSA. sealed is
// false when op published no key for any form this node can seal.
func (s *Service) sealSubscriber(dst []byte, op *registry.Operator, clientID string, msisdn uint64) (_ []byte, sealed bool, err error) {
	if s.sym != nil && len(op.SealKeys) > 0 && op.Opens(registry.FormX25519AESGCM) {
		// The first key is the current one (registry.Operator.SealKeys).
		out, err := s.sym.seal(dst, op.SealKeys[0], clientID, msisdn, s.now().Add(s.subTTL))
		if err == nil {
			return out, true, nil
		}
		// Not published yet, or a key that will not agree: RSA, if the
		// gateway opens it.
	}
	if !op.Opens(registry.FormRSAPKCS1) {
		return dst, false, nil
	}
	pub, err := s.keys.get(op)
	if err != nil {
		return dst, false, nil
	}
	ct, err := seal(pub, msisdn)
	if err != nil {
		return dst, false, err
	}
	return hex.AppendEncode(dst, ct), true, nil
}

// SealSymmetric returns msisdn's symmetric subscriber_id, sealed by node
// for the operator key op and the SP clientID, expiring at expiry: what
// discovery on a node with that key answers (tests of gateways elsewhere).
// It agrees the key anew; discovery caches it.
func SealSymmetric(node SealKeyPair, op registry.SealKey, clientID string, msisdn uint64, expiry time.Time) (string, error) {
	out, err := newSymSealer(publishedKey(node), node).seal(nil, op, clientID, msisdn, expiry)
	return string(out), err
}

// publishedKey is a registry holding just one node's key.
type publishedKey SealKeyPair

func (p publishedKey) NodeSealKey(kid string) (registry.SealKey, bool) {
	k := SealKeyPair(p)
	return k.Published(), kid == k.id
}
