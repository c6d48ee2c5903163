package sms

import (
	"sync"
	"time"

	"github.com/mcfed/mcfed/idgw"
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
	// refused: the person said no on the phone, or picked the wrong
	// number (refusal says which, for the SP).
	refused bool
	refusal string
	// page is the token of the code page's URL (the OTP page finds the
	// challenge by it), and view what the pages show.
	page     string
	linkHash [32]byte // its link's token hash, when the SMS has a link
	view     view
}

// view is what the pages of a challenge show the person: the operator's
// look, the SP, the masked number, in the person's language (Start's
// challenge), and where the code page goes on to.
type view struct {
	look   idgw.Look
	sp     string
	number string
	lang   string
	ret    string // the gateway's continue URL
	link   bool   // the SMS has a link: the code page watches for its tap
	// binding is the SP's binding message; match the number the person
	// picks on the phone ("" when the login has no browser page).
	binding string
	match   string
}

// linkEntry is one link token, by its hash.
type linkEntry struct {
	challenge [16]byte
	spName    string
	expires   time.Time
	tapped    bool // confirmed on the phone (the right number picked)
	// match is the number the browser's page shows and choices the
	// numbers the phone's page offers (match among them, in a random
	// order fixed at Start, so that reloading the page tells nothing).
	match   string
	choices []string
}

// store holds the node-local, in-memory records: challenges, link tokens
// and the SMS sent per MSISDN. Entries are kept one TTL past their expiry
// (so a late tap is told "expired", not "unknown") and swept lazily.
type store struct {
	mu         sync.Mutex
	challenges map[[16]byte]*challengeEntry
	pages      map[string][16]byte // code page token → challenge
	links      map[[32]byte]*linkEntry
	sends      map[string][]time.Time // send times within the window, oldest first
	lastSweep  time.Time
}

func newStore() *store {
	return &store{
		challenges: map[[16]byte]*challengeEntry{},
		pages:      map[string][16]byte{},
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
			delete(s.pages, c.page)
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
// happened within window; past the limit it returns false and when the
// next send will be allowed.
func (s *store) reserveSend(msisdn string, now time.Time, limit int, window time.Duration) (bool, time.Time) {
	ts := s.sends[msisdn]
	i := 0
	for i < len(ts) && !now.Before(ts[i].Add(window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= limit {
		s.sends[msisdn] = ts
		return false, ts[len(ts)-limit].Add(window)
	}
	s.sends[msisdn] = append(ts, now)
	return true, time.Time{}
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
