package discovery

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mcfed/mcfed/registry"
)

// subscriber_id is the MSISDN sealed to the serving operator (spec §1.3, the
// OpenNAC recipe the SDKs' ENCR_MSISDN login hint carries): the number's
// digits without '+', a '|', random printable characters up to sealedLen
// bytes, RSA PKCS#1 v1.5 under the operator's public key, lower-case hex.
//
// PKCS#1 v1.5 encryption is deprecated in Go and rightly so (Bleichenbacher's
// padding oracle); it is kept because it is the format the Mobile Connect
// ecosystem fixed. Open never reveals whether padding was valid: it decrypts
// with the constant-time session-key API, which only works because every
// seal has the same length.

// sealedLen is the plaintext length of every subscriber_id.
const sealedLen = 128

// sealFill is the alphabet of the random fill: 64 printable characters, so
// a random byte's low six bits pick one without bias, and never '|'.
const sealFill = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// ErrSubscriberID is returned by Open for anything that is not a
// subscriber_id sealed to its key. It says no more, on purpose.
var ErrSubscriberID = errors.New("malformed subscriber_id")

// Seal returns msisdn (an E.164 number's digits as an integer) sealed to pub
// as a subscriber_id: 2×(key size) lower-case hex digits, 512 for RSA-2048.
func Seal(pub *rsa.PublicKey, msisdn uint64) (string, error) {
	ct, err := seal(pub, msisdn)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(ct), nil
}

// seal returns the ciphertext of msisdn's subscriber_id.
func seal(pub *rsa.PublicKey, msisdn uint64) ([]byte, error) {
	if msisdn == 0 || msisdn >= 1e15 {
		return nil, fmt.Errorf("seal subscriber_id: %d is not an E.164 number", msisdn)
	}
	var pt [sealedLen]byte
	d := strconv.AppendUint(pt[:0], msisdn, 10)
	pt[len(d)] = '|'
	fill := pt[len(d)+1:]
	rand.Read(fill) // crypto/rand.Read never fails (Go 1.24+)
	for i, b := range fill {
		fill[i] = sealFill[b&63]
	}
	//lint:ignore SA1019 the SDKs' ENCR_MSISDN format is RSA PKCS#1 v1.5 (see above).
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, pt[:])
	if err != nil {
		return nil, fmt.Errorf("seal subscriber_id: %w", err)
	}
	return ct, nil
}

// Open returns the MSISDN sealed in subscriberID (hex, as Seal makes it, any
// case) by a Seal under priv's public key. The operator's own gateway calls it
// for login_hint=ENCR_MSISDN:<subscriberID>, after removing the prefix. Any
// failure is ErrSubscriberID, wrapped, with no detail of which check failed.
func Open(priv *rsa.PrivateKey, subscriberID string) (uint64, error) {
	fail := fmt.Errorf("open subscriber_id: %w", ErrSubscriberID)
	if len(subscriberID) != 2*priv.Size() {
		return 0, fail
	}
	ct, err := hex.DecodeString(subscriberID)
	if err != nil {
		return 0, fail
	}
	// On invalid padding the session-key API leaves pt as it was, in
	// constant time: random bytes, which fail the format check below
	// exactly as a wrong format would.
	var pt [sealedLen]byte
	rand.Read(pt[:])
	//lint:ignore SA1019 the SDKs' ENCR_MSISDN format is RSA PKCS#1 v1.5 (see above).
	if err := rsa.DecryptPKCS1v15SessionKey(nil, priv, ct, pt[:]); err != nil {
		return 0, fail
	}
	n, ok := parseSealed(pt[:])
	if !ok {
		return 0, fail
	}
	return n, nil
}

// parseSealed reads a plaintext: 1-15 digits (no leading zero), '|', then
// fill characters only.
func parseSealed(pt []byte) (uint64, bool) {
	var n uint64
	i := 0
	for ; i < len(pt) && pt[i] >= '0' && pt[i] <= '9'; i++ {
		if i == 15 || (i == 0 && pt[i] == '0') {
			return 0, false
		}
		n = n*10 + uint64(pt[i]-'0')
	}
	if i == 0 || i == len(pt) || pt[i] != '|' {
		return 0, false
	}
	for _, c := range pt[i+1:] {
		if !isFill(c) {
			return 0, false
		}
	}
	return n, true
}

func isFill(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// sealingKeys caches operators' parsed sealing keys by operator id, each with
// the PEM text it was parsed from: a changed key (a new *Operator with
// another SealingKey) is parsed again, an unchanged one costs a map lookup
// and a string comparison that the shared backing array makes immediate.
// Reads take no lock; the rare miss copies the map.
type sealingKeys struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]sealingKey]
}

type sealingKey struct {
	pem string
	pub *rsa.PublicKey
	err error
}

// errNoSealingKey: the operator published no sealing key.
var errNoSealingKey = errors.New("operator has no sealing key")

func (k *sealingKeys) get(op *registry.Operator) (*rsa.PublicKey, error) {
	if m := k.m.Load(); m != nil {
		if e, ok := (*m)[op.ID]; ok && e.pem == op.SealingKey {
			return e.pub, e.err
		}
	}
	e := sealingKey{pem: op.SealingKey}
	e.pub, e.err = parseSealingKey(op.SealingKey)
	k.mu.Lock()
	defer k.mu.Unlock()
	var n map[string]sealingKey
	if m := k.m.Load(); m != nil {
		n = make(map[string]sealingKey, len(*m)+1)
		for id, v := range *m {
			n[id] = v
		}
	} else {
		n = map[string]sealingKey{}
	}
	n[op.ID] = e
	k.m.Store(&n)
	return e.pub, e.err
}

// parseSealingKey reads a PEM PUBLIC KEY holding an RSA key (the registry
// has checked it on write; this guards against anything else).
func parseSealingKey(p string) (*rsa.PublicKey, error) {
	if p == "" {
		return nil, errNoSealingKey
	}
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("sealing key is not a PEM PUBLIC KEY")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("sealing key is not an RSA key")
	}
	return pub, nil
}
