package jose

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeyRing holds a node's signing keys: one active key per algorithm plus
// rotated-out keys that stay published until every token they signed has
// expired. It is safe for concurrent use.
//
// Retirement: Rotate(alg, now) sets the old key's retire time to
// now + maxTokenLifetime. A token signed by the old key just before the
// rotation expires by then, so verifiers holding the JWKS can check it to
// the end. maxTokenLifetime must cover the longest ID token (and request
// object) lifetime plus the clock skew verifiers allow, and relying parties'
// JWKS cache time.
type KeyRing struct {
	mu       sync.RWMutex
	lifetime time.Duration
	entries  []*ringEntry // oldest first
	active   map[Alg]*Key
}

type ringEntry struct {
	key      *Key
	created  time.Time
	retireAt time.Time // zero while active
}

func (e *ringEntry) published(now time.Time) bool {
	return e.retireAt.IsZero() || now.Before(e.retireAt)
}

// NewKeyRing makes an empty ring. maxTokenLifetime is how long a rotated-out
// key stays published (see KeyRing).
func NewKeyRing(maxTokenLifetime time.Duration) *KeyRing {
	return &KeyRing{lifetime: maxTokenLifetime, active: map[Alg]*Key{}}
}

// MaxTokenLifetime is the publication period after rotation.
func (r *KeyRing) MaxTokenLifetime() time.Duration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lifetime
}

// Rotate generates a new active key for alg; the previous active key, if
// any, stays published until now + maxTokenLifetime. The key is generated
// outside the lock (RSA generation takes tens of milliseconds).
func (r *KeyRing) Rotate(alg Alg, now time.Time) (*Key, error) {
	k, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.install(k, now)
	return k, nil
}

// Add makes k the active key for its algorithm, as Rotate does with a new
// key (for keys imported from elsewhere).
func (r *KeyRing) Add(k *Key, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.install(k, now)
}

func (r *KeyRing) install(k *Key, now time.Time) {
	if old := r.active[k.alg]; old != nil {
		if old.kid == k.kid {
			return
		}
		for _, e := range r.entries {
			if e.key == old {
				e.retireAt = now.Add(r.lifetime)
			}
		}
	}
	r.entries = append(r.entries, &ringEntry{key: k, created: now})
	r.active[k.alg] = k
}

// Ensure gives every alg in algs an active key, generating those missing;
// it reports whether it changed the ring (then save it).
func (r *KeyRing) Ensure(now time.Time, algs ...Alg) (bool, error) {
	changed := false
	for _, a := range algs {
		if r.Active(a) != nil {
			continue
		}
		if _, err := r.Rotate(a, now); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// Active is the current signing key for alg, or nil.
func (r *KeyRing) Active(alg Alg) *Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active[alg]
}

// published lists the keys to publish at now: active ones first (in Algs
// order), then rotated-out ones, newest first.
func (r *KeyRing) published(now time.Time) []*Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Key
	for _, a := range Algs {
		if k := r.active[a]; k != nil {
			out = append(out, k)
		}
	}
	var old []*ringEntry
	for _, e := range r.entries {
		if !e.retireAt.IsZero() && e.published(now) {
			old = append(old, e)
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].created.After(old[j].created) })
	for _, e := range old {
		out = append(out, e.key)
	}
	return out
}

// JWKS is the public key set to serve at jwks_uri at time now: active keys
// and rotated-out keys not yet retired, each with kty, use, alg and kid,
// compact JSON. It never contains private members.
func (r *KeyRing) JWKS(now time.Time) []byte {
	set := jwk.NewSet()
	for _, k := range r.published(now) {
		_ = set.AddKey(k.pubJWK) // only fails for a key already in the set
	}
	b, err := json.Marshal(set)
	if err != nil { // public RSA/EC/OKP keys always marshal
		panic(fmt.Sprintf("jose: marshal jwks: %v", err))
	}
	return b
}

// PublicSet is JWKS(now) already parsed, for the node's own verification
// (id_token_hint and the like).
func (r *KeyRing) PublicSet(now time.Time) *KeySet {
	ks := &KeySet{keys: map[string]setKey{}}
	for _, k := range r.published(now) {
		ks.keys[k.kid] = setKey{alg: k.alg, pub: k.verifyKey}
	}
	return ks
}

// Prune drops keys retired at or before now and reports how many.
func (r *KeyRing) Prune(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.entries[:0]
	for _, e := range r.entries {
		if e.published(now) {
			kept = append(kept, e)
		}
	}
	n := len(r.entries) - len(kept)
	clear(r.entries[len(kept):])
	r.entries = kept
	return n
}

// ringFile is the on-disk form: private JWKs, so the file is 0600.
type ringFile struct {
	Version          int             `json:"version"`
	MaxTokenLifetime string          `json:"max_token_lifetime"`
	Keys             []ringFileEntry `json:"keys"`
}

type ringFileEntry struct {
	JWK      json.RawMessage `json:"jwk"`
	Created  time.Time       `json:"created"`
	RetireAt *time.Time      `json:"retire_at,omitempty"`
	Active   bool            `json:"active,omitempty"`
}

// SaveFile writes the ring, private keys included, to path with mode 0600,
// atomically: a temporary file in the same directory is written, synced and
// renamed over path, and the directory is synced.
func (r *KeyRing) SaveFile(path string) error {
	data, err := r.MarshalPrivate()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// MarshalPrivate is the ring, private keys included, in SaveFile's form:
// for a store that keeps it encrypted.
func (r *KeyRing) MarshalPrivate() ([]byte, error) {
	r.mu.RLock()
	f := ringFile{Version: 1, MaxTokenLifetime: r.lifetime.String()}
	for _, e := range r.entries {
		b, err := e.key.MarshalPrivate()
		if err != nil {
			r.mu.RUnlock()
			return nil, err
		}
		fe := ringFileEntry{JWK: b, Created: e.created.UTC(), Active: r.active[e.key.alg] == e.key}
		if !e.retireAt.IsZero() {
			t := e.retireAt.UTC()
			fe.RetireAt = &t
		}
		f.Keys = append(f.Keys, fe)
	}
	r.mu.RUnlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jose: marshal ring: %w", err)
	}
	return data, nil
}

// ReplaceWith makes r hold other's keys: a ring that another node of the
// operator rotated, loaded in place so that whoever holds r signs with
// the new keys.
func (r *KeyRing) ReplaceWith(other *KeyRing) {
	other.mu.RLock()
	entries, active, lifetime := other.entries, other.active, other.lifetime
	other.mu.RUnlock()
	r.mu.Lock()
	r.entries, r.active, r.lifetime = entries, active, lifetime
	r.mu.Unlock()
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("jose: save ring: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return nil
}

// LoadRing reads a ring written by SaveFile.
func LoadRing(path string) (*KeyRing, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jose: load ring: %w", err)
	}
	return ParseRing(path, data)
}

// ParseRing reads a ring in MarshalPrivate's form; name says where it
// came from, in errors.
func ParseRing(name string, data []byte) (*KeyRing, error) {
	path := name
	var f ringFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("jose: load ring %s: %w", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("jose: load ring %s: unknown version %d", path, f.Version)
	}
	lt, err := time.ParseDuration(f.MaxTokenLifetime)
	if err != nil {
		return nil, fmt.Errorf("jose: load ring %s: max_token_lifetime: %w", path, err)
	}
	r := NewKeyRing(lt)
	for i, fe := range f.Keys {
		k, err := ParsePrivate(fe.JWK)
		if err != nil {
			return nil, fmt.Errorf("jose: load ring %s: key #%d: %w", path, i, err)
		}
		e := &ringEntry{key: k, created: fe.Created}
		if fe.RetireAt != nil {
			e.retireAt = *fe.RetireAt
		}
		if fe.Active {
			if r.active[k.alg] != nil {
				return nil, fmt.Errorf("jose: load ring %s: two active %s keys", path, k.alg)
			}
			if !e.retireAt.IsZero() {
				return nil, fmt.Errorf("jose: load ring %s: active key %s has a retire time", path, k.kid)
			}
			r.active[k.alg] = k
		} else if e.retireAt.IsZero() {
			return nil, fmt.Errorf("jose: load ring %s: inactive key %s has no retire time", path, k.kid)
		}
		r.entries = append(r.entries, e)
	}
	return r, nil
}
