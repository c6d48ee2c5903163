package registry

import (
	"crypto/sha256"
	"math"
	"sync"

	"github.com/mcfed/mcfed/internal/spsecret"
)

// An SP's secret S never leaves the SP and the node answering its discovery
// requests: the registry keeps the public key derived from it (SecretKey),
// discovery answers with the secret of the serving operator X derived from S
// (spsecret.OperatorSecret), and X's gateway accepts only that one. What X
// sees is of no use at another operator or at discovery. Legacy SPs, with
// only a SecretHash, keep their one secret everywhere.

// SecretCacheSize is how many verified secrets a SecretCache holds by
// default: more than the SPs of a federation that are active at once.
const SecretCacheSize = 4096

// SecretCache remembers secrets it has verified, so that a request with a
// secret seen before costs one SHA-256 and a map lookup instead of an
// Ed25519 key derivation and signature (discovery) or verification
// (gateways). An entry holds the SecretKey it was verified against and is
// used only while the SP's SecretKey is still that one: rotating the secret
// invalidates it. Only successes are kept, so wrong guesses cannot fill it.
// It is safe for concurrent use.
type SecretCache struct {
	mu sync.RWMutex
	m  map[[32]byte]secretEntry
	// d holds discovery's derived secrets by the own secret's key and the
	// operator, so that a request that verified its secret finds the
	// serving operator's without hashing it again.
	d   map[derivedKey]secretEntry
	max int
}

type secretEntry struct {
	key     string // the SecretKey verified against
	derived string // the operator secret derived, for discovery's entries
}

type derivedKey struct {
	own      [32]byte // cacheKey(kindOwn, ...) of the secret derived from
	operator string
}

// NewSecretCache returns a cache of at most size entries (SecretCacheSize
// when size <= 0).
func NewSecretCache(size int) *SecretCache {
	if size <= 0 {
		size = SecretCacheSize
	}
	return &SecretCache{m: make(map[[32]byte]secretEntry), d: make(map[derivedKey]secretEntry), max: size}
}

// What a cache key is for: the SP's own secret or an operator secret
// presented at a gateway.
const (
	kindOwn byte = iota + 1
	kindPresented
)

// cacheKey names (kind, client id, operator, secret); the NULs keep the
// fields apart (ids hold none). The buffer stays on the stack for the
// lengths ids and secrets have.
func cacheKey[S string | []byte](kind byte, clientID, operator string, secret S) [32]byte {
	var buf [320]byte
	b := append(buf[:0], kind)
	b = append(b, clientID...)
	b = append(b, 0)
	b = append(b, operator...)
	b = append(b, 0)
	b = append(b, secret...)
	return sha256.Sum256(b)
}

func (c *SecretCache) get(k [32]byte, key string) (string, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return e.derived, ok && e.key == key
}

func (c *SecretCache) getDerived(k derivedKey, key string) (string, bool) {
	c.mu.RLock()
	e, ok := c.d[k]
	c.mu.RUnlock()
	return e.derived, ok && e.key == key
}

func (c *SecretCache) put(k [32]byte, e secretEntry) {
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		c.makeRoom()
	}
	c.m[k] = e
	c.mu.Unlock()
}

func (c *SecretCache) putDerived(k derivedKey, e secretEntry) {
	c.mu.Lock()
	if _, ok := c.d[k]; !ok {
		c.makeRoom()
	}
	c.d[k] = e
	c.mu.Unlock()
}

// makeRoom drops an entry when the cache is full: whichever map iteration
// yields first (Go randomises where it starts), from the larger map. A
// dropped entry costs one miss. c.mu is held.
func (c *SecretCache) makeRoom() {
	if len(c.m)+len(c.d) < c.max {
		return
	}
	if len(c.m) >= len(c.d) {
		for old := range c.m {
			delete(c.m, old)
			break
		}
		return
	}
	for old := range c.d {
		delete(c.d, old)
		break
	}
}

// OwnSecret is an SP's own secret that Verify accepted, for
// OperatorSecretFor. It holds the secret: it lives for one request.
type OwnSecret struct {
	sp     *ServiceProvider
	secret []byte
	k      [32]byte
}

// Authenticate reports whether secret is sp's own secret, the one it
// presents at discovery: checked against SecretKey, or for a legacy SP
// against SecretHash. A derived operator secret is not it.
func (c *SecretCache) Authenticate(sp *ServiceProvider, secret []byte) bool {
	_, ok := c.Verify(sp, secret)
	return ok
}

// Verify is Authenticate, also returning the secret for OperatorSecretFor.
func (c *SecretCache) Verify(sp *ServiceProvider, secret []byte) (OwnSecret, bool) {
	o := OwnSecret{sp: sp, secret: secret}
	if sp.SecretKey == "" {
		return o, sp.SecretHash != "" && sp.CheckSecret(string(secret))
	}
	o.k = cacheKey(kindOwn, sp.ClientID, "", secret)
	if _, ok := c.get(o.k, sp.SecretKey); ok {
		return o, true
	}
	if !spsecret.CheckSecret(sp.SecretKey, string(secret)) {
		return o, false
	}
	c.put(o.k, secretEntry{key: sp.SecretKey})
	return o, true
}

// OperatorSecret is the client secret discovery hands sp for operator, sp
// having authenticated with secret (Authenticate): the derived
// per-operator secret, or for a legacy SP its one secret.
func (c *SecretCache) OperatorSecret(sp *ServiceProvider, secret []byte, operator string) string {
	o := OwnSecret{sp: sp, secret: secret}
	if sp.SecretKey != "" {
		o.k = cacheKey(kindOwn, sp.ClientID, "", secret)
	}
	return c.OperatorSecretFor(&o, operator)
}

// OperatorSecretFor is OperatorSecret for a secret Verify accepted, which
// it does not hash again: a map lookup once derived.
func (c *SecretCache) OperatorSecretFor(o *OwnSecret, operator string) string {
	if o.sp.SecretKey == "" {
		return string(o.secret)
	}
	k := derivedKey{own: o.k, operator: operator}
	if d, ok := c.getDerived(k, o.sp.SecretKey); ok {
		return d
	}
	d := spsecret.OperatorSecret(string(o.secret), o.sp.ClientID, operator)
	c.putDerived(k, secretEntry{key: o.sp.SecretKey, derived: d})
	return d
}

// CheckOperatorSecret reports whether presented is the secret sp uses at
// operator's gateway: its derived secret for that operator (never its own
// secret, never another operator's), or for a legacy SP its one secret. An
// SP with keys only has no secret.
func (c *SecretCache) CheckOperatorSecret(sp *ServiceProvider, operator, presented string) bool {
	if sp.SecretKey == "" {
		return sp.SecretHash != "" && sp.CheckSecret(presented)
	}
	k := cacheKey(kindPresented, sp.ClientID, operator, presented)
	if _, ok := c.get(k, sp.SecretKey); ok {
		return true
	}
	if !spsecret.Verify(sp.SecretKey, sp.ClientID, operator, presented) {
		return false
	}
	c.put(k, secretEntry{key: sp.SecretKey})
	return true
}

// Len is how many entries the cache holds.
func (c *SecretCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m) + len(c.d)
}

// MinSecretBits is the least entropy CheckGivenSecret accepts in a secret a
// caller chose: that of a 128-bit key.
const MinSecretBits = 128

// CheckGivenSecret refuses a secret a caller chose that is not a key:
// shorter than MinSecretLength, or with an estimated entropy under
// MinSecretBits. The estimate is the length times the empirical Shannon
// entropy per character: 32 'a's score 0, a word repeated or a short
// alphabet scores low, 43 characters of base64url from crypto/rand score
// about 230. It cannot tell a random-looking string someone knows from a
// random one: generated secrets are the safe choice, and the default.
func CheckGivenSecret(secret string) error {
	if len(secret) < MinSecretLength {
		return invalidf("client_secret must be at least %d characters of random data; leave it out to have one generated", MinSecretLength)
	}
	if bits := SecretEntropy(secret); bits < MinSecretBits {
		return invalidf("client_secret looks guessable (an estimated %.0f bits of entropy, want at least %d): leave it out to have one generated", bits, MinSecretBits)
	}
	return nil
}

// SecretEntropy estimates the entropy of s in bits: len(s) times the
// Shannon entropy of its byte frequencies.
func SecretEntropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var perChar float64
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			perChar -= p * math.Log2(p)
		}
	}
	return n * perChar
}
