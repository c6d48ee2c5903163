package subscribers

import (
	"slices"
	"sync"
	"time"
)

// secretCache keeps the PCR secrets this node has read, by their key
// (secretKey: the number and the holder's generation). A holder's secret
// never changes while a record names its generation: it is made once
// (Create: of nodes making it at once, one's is kept), and removed only
// once no live record names that generation (Delete, dropOldSecrets, a
// secret made for a holder deleted meanwhile). Lookup reads the record
// from the store every time, and the secret by the generation it gives,
// so a secret kept here is used only for the holder it was made for: a
// login and its userinfo read the record once each, the secret once per
// node. Bounded: when the newer map is full, or secretCacheAge after it
// was begun, it becomes the older, and the older is dropped; a secret not
// read for twice that age is gone, so that a node's heap comes back to
// where it was once its logins are over (issue 15).
type secretCache struct {
	mu        sync.Mutex
	cur, prev map[[16]byte][]byte
	// age is secretCacheAge (tests shorten it); aging is whether a timer
	// will age the maps.
	age   time.Duration
	aging bool
}

// secretCacheHalf bounds each map (about 100 bytes an entry).
const secretCacheHalf = 1 << 15

// secretCacheAge is how long a map takes new secrets: a login's
// authorize and its userinfo come within minutes.
const secretCacheAge = 5 * time.Minute

func (c *secretCache) get(k []byte) ([]byte, bool) {
	if len(k) != 16 {
		return nil, false
	}
	key := [16]byte(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.cur[key]
	if !ok {
		if s, ok = c.prev[key]; ok {
			c.addLocked(key, s)
		}
	}
	return slices.Clone(s), ok
}

func (c *secretCache) add(k, secret []byte) {
	if len(k) != 16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked([16]byte(k), slices.Clone(secret))
}

func (c *secretCache) addLocked(key [16]byte, secret []byte) {
	if len(c.cur) >= secretCacheHalf {
		c.prev, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[[16]byte][]byte)
	}
	c.cur[key] = secret
	if !c.aging {
		c.aging = true
		c.ageLater()
	}
}

// ageLater makes the newer map the older after the cache's age, and goes
// on until both are empty.
func (c *secretCache) ageLater() {
	age := c.age
	if age <= 0 {
		age = secretCacheAge
	}
	time.AfterFunc(age, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.prev, c.cur = c.cur, nil
		if c.aging = len(c.prev) > 0; c.aging {
			c.ageLater()
		}
	})
}

// forget drops the secret of key k (a secret this node destroys).
func (c *secretCache) forget(k []byte) {
	if len(k) != 16 {
		return
	}
	key := [16]byte(k)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cur, key)
	delete(c.prev, key)
}
