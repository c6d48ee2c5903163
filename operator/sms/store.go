package sms

import (
	"sync"
	"time"
)

// challengeEntry is the node's own record of a challenge, beside the state
// the gateway keeps: it makes a success single use and the attempt count
// authoritative even if an older state were handed back.
type challengeEntry struct {
	expires  time.Time
	attempts int
	// otpPage is where a wrong code sends the person back to ("" when the
	// challenge has no code).
	otpPage string
	used    bool // succeeded once
	locked  bool // too many attempts
}

// linkEntry is one link token, by its hash.
type linkEntry struct {
	challenge [16]byte
	spName    string
	expires   time.Time
	tapped    bool
}

// store holds the node-local, in-memory records: challenges, link tokens
// and the SMS sent per MSISDN. Entries are kept one TTL past their expiry
// (so a late tap is told "expired", not "unknown") and swept lazily.
type store struct {
	mu         sync.Mutex
	challenges map[[16]byte]*challengeEntry
	links      map[[32]byte]*linkEntry
	sends      map[string][]time.Time // send times within the window, oldest first
	lastSweep  time.Time
}

func newStore() *store {
	return &store{
		challenges: map[[16]byte]*challengeEntry{},
		links:      map[[32]byte]*linkEntry{},
		sends:      map[string][]time.Time{},
	}
}

// sweepLocked drops what is long expired, at most once a minute.
func (s *store) sweepLocked(now time.Time, ttl, window time.Duration) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, c := range s.challenges {
		if now.After(c.expires.Add(ttl)) {
			delete(s.challenges, k)
		}
	}
	for k, l := range s.links {
		if now.After(l.expires.Add(ttl)) {
			delete(s.links, k)
		}
	}
	for k, ts := range s.sends {
		if len(ts) == 0 || !now.Before(ts[len(ts)-1].Add(window)) {
			delete(s.sends, k)
		}
	}
}

// reserveSend records a send to msisdn at now unless limit sends already
// happened within window; it returns false past the limit.
func (s *store) reserveSend(msisdn string, now time.Time, limit int, window time.Duration) bool {
	ts := s.sends[msisdn]
	i := 0
	for i < len(ts) && !now.Before(ts[i].Add(window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= limit {
		s.sends[msisdn] = ts
		return false
	}
	s.sends[msisdn] = append(ts, now)
	return true
}

// releaseSend undoes reserveSend(msisdn, at) when the SMS was not sent.
func (s *store) releaseSend(msisdn string, at time.Time) {
	ts := s.sends[msisdn]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			s.sends[msisdn] = append(ts[:i:i], ts[i+1:]...)
			return
		}
	}
}
