package sms

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Store is where the authenticator keeps its challenges, link taps and
// per-number send log (state.Store, of which it uses these methods): the
// operator's node-local store, shared by the operator's gateway nodes when
// it is PostgreSQL, so that a code typed or a link tapped on any node
// answers a challenge another node started, the send limit holds across
// the nodes, and a restart forgets none of it.
type Store interface {
	Put(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error
	Get(ctx context.Context, kind state.Kind, key []byte) (state.Record, error)
	Update(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error)
	Delete(ctx context.Context, kind state.Kind, key []byte) error
	Batch(ctx context.Context, ops ...state.Op) error
}

// The kinds the authenticator keeps (records.go has their forms).
const (
	// kindChallenge: a challengeRecord by its challenge id.
	kindChallenge state.Kind = "sms.challenge"
	// kindPage: a challenge id by the SHA-256 of its code page's token,
	// as nodes before challengeIDOf wrote them (read when a page's
	// challenge is not found by its id: byPage).
	kindPage state.Kind = "sms.page"
	// kindLink: a challenge id by the SHA-256 of its link's token.
	kindLink state.Kind = "sms.link"
	// kindSends: a sendLog by the MSISDN (decimal).
	kindSends state.Kind = "sms.sends"
)

// Errors an update's function returns to write nothing; update answers
// them as what they mean, not as failures.
var (
	errNoChallenge = errors.New("sms: no live challenge")
	errUnchanged   = errors.New("sms: nothing to write")
)

// challenges is the challenge table, typed. A read that fails in the store
// is logged and answered as absent: the authenticator fails closed (a
// challenge it cannot read is over, a link it cannot find is unknown).
type challenges struct {
	store Store
	log   *slog.Logger
}

// get returns the live challenge id.
func (t challenges) get(ctx context.Context, id [16]byte) (*challengeRecord, bool) {
	r, err := t.store.Get(ctx, kindChallenge, id[:])
	if err != nil {
		if !errors.Is(err, state.ErrNotFound) {
			t.log.Error("state store: reading an SMS challenge failed; answered as absent", "error", err)
		}
		return nil, false
	}
	c, err := decodeChallenge(r.Value)
	if err != nil {
		t.log.Error("state store: an SMS challenge does not decode; answered as absent", "error", err)
		return nil, false
	}
	return c, true
}

// update changes the live challenge id in one step of the store, against
// every other node's: fn sees the stored challenge and reports whether it
// changed it (nothing is written when not). fn may run more than once, on
// a fresh copy each time. found is false when there is no live challenge;
// err is the store's.
func (t challenges) update(ctx context.Context, id [16]byte, fn func(c *challengeRecord) (changed bool)) (found bool, err error) {
	_, err = t.store.Update(ctx, kindChallenge, id[:], func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, errNoChallenge
		}
		c, err := decodeChallenge(old.Value)
		if err != nil {
			return state.Record{}, err
		}
		if !fn(c) {
			return state.Record{}, errUnchanged
		}
		b, err := c.encode()
		if err != nil {
			return state.Record{}, err
		}
		return state.Record{Value: b, Expires: old.Expires}, nil
	})
	switch {
	case errors.Is(err, errNoChallenge):
		return false, nil
	case errors.Is(err, errUnchanged):
		return true, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// byRef finds the challenge a page or link token refers to (kind is
// kindPage or kindLink, key the token's hash).
func (t challenges) byRef(ctx context.Context, kind state.Kind, key [32]byte) (id [16]byte, c *challengeRecord, ok bool) {
	if id, ok = t.idOf(ctx, kind, key); !ok {
		return id, nil, false
	}
	c, ok = t.get(ctx, id)
	return id, c, ok
}

// challengeIDOf is the id of the challenge whose code page's token is
// page: the page finds its challenge in one read, with no record between
// (the store holds this digest of the token, never the token).
func challengeIDOf(page string) (id [16]byte) {
	sum := sha256.Sum256([]byte("mcfed-sms-page\x00" + page))
	copy(id[:], sum[:])
	return id
}

// challengeIDOfLink is the id of a challenge without a code, whose link's
// token is token: the link finds it in one read.
func challengeIDOfLink(token string) (id [16]byte) {
	sum := sha256.Sum256([]byte("mcfed-sms-link\x00" + token))
	copy(id[:], sum[:])
	return id
}

// byLink finds the challenge of a link's token: by the id the token gives
// when the challenge has no code (urlOnly, the mode), else, and for a
// challenge an earlier node started, through its link's record
// (kindLink).
func (t challenges) byLink(ctx context.Context, token string, urlOnly bool) (id [16]byte, c *challengeRecord, ok bool) {
	if urlOnly {
		id = challengeIDOfLink(token)
		if c, ok = t.get(ctx, id); ok {
			return id, c, true
		}
	}
	return t.byRef(ctx, kindLink, hashToken(token))
}

// byPage finds the challenge of a code page's token: by the id the token
// gives, else through a page record (kindPage) an earlier node wrote.
func (t challenges) byPage(ctx context.Context, page string) (*challengeRecord, bool) {
	if page == "" {
		return nil, false
	}
	if c, ok := t.get(ctx, challengeIDOf(page)); ok {
		return c, true
	}
	_, c, ok := t.byRef(ctx, kindPage, pageHash(page))
	return c, ok
}

// idOf is the id of the challenge a page or link token refers to, for a
// caller that reads the challenge itself (in an update).
func (t challenges) idOf(ctx context.Context, kind state.Kind, key [32]byte) (id [16]byte, ok bool) {
	r, err := t.store.Get(ctx, kind, key[:])
	if err != nil {
		if !errors.Is(err, state.ErrNotFound) {
			t.log.Error("state store: reading an SMS token failed; answered as unknown", "kind", kind, "error", err)
		}
		return id, false
	}
	if len(r.Value) != len(id) {
		t.log.Error("state store: an SMS token's record is malformed; answered as unknown", "kind", kind, "length", len(r.Value))
		return id, false
	}
	copy(id[:], r.Value)
	return id, true
}

// createOps are the writes that store a new challenge (its id is its
// page's, challengeIDOf, or its link's, challengeIDOfLink: byLink) and,
// when it has a code and a link, the record that finds it by its link's
// token, all until expires, to be written in one step: all or none.
func (t challenges) createOps(id [16]byte, c *challengeRecord, byLink bool, expires time.Time) ([]state.Op, error) {
	b, err := c.encode()
	if err != nil {
		return nil, err
	}
	ops := []state.Op{{Kind: kindChallenge, Key: id[:], Value: b, Expires: expires}}
	if c.LinkHash != nil && !byLink {
		ops = append(ops, state.Op{Kind: kindLink, Key: c.LinkHash, Value: id[:], Expires: expires})
	}
	return ops, nil
}

// remove deletes a challenge and its link's record (a send that failed);
// linkKey is nil when it has no link.
func (t challenges) remove(ctx context.Context, id [16]byte, linkKey []byte) {
	for _, r := range []struct {
		kind state.Kind
		key  []byte
	}{{kindLink, linkKey}, {kindChallenge, id[:]}} {
		if r.key == nil {
			continue
		}
		if err := t.store.Delete(ctx, r.kind, r.key); err != nil {
			t.log.Error("state store: deleting an SMS challenge failed", "kind", r.kind, "error", err)
		}
	}
}

// pageHash is the key of a code page's token.
func pageHash(page string) [32]byte { return sha256.Sum256([]byte(page)) }

// errLimited is reserveSend's function's answer past the limit: nothing
// is written.
var errLimited = errors.New("sms: send limit reached")

// reserveSend records a send to msisdn at now unless limit sends already
// happened within window, in one step of the store, so that the limit
// holds across the nodes sharing it. Past the limit ok is false and retry
// is when the next send will be allowed.
func reserveSend(ctx context.Context, s Store, msisdn string, now time.Time, limit int, window time.Duration) (ok bool, retry time.Time, err error) {
	_, err = s.Update(ctx, kindSends, []byte(msisdn), func(old state.Record, found bool) (state.Record, error) {
		var l sendLog
		if found {
			var err error
			if l, err = decodeSendLog(old.Value); err != nil {
				return state.Record{}, err
			}
		}
		l = l.since(now.Add(-window))
		if len(l.Times) >= limit {
			retry = time.Unix(0, l.Times[len(l.Times)-limit]).Add(window)
			return state.Record{}, errLimited
		}
		l.Times = append(l.Times, now.UnixNano())
		return l.record(window)
	})
	switch {
	case errors.Is(err, errLimited):
		return false, retry, nil
	case err != nil:
		return false, time.Time{}, err
	}
	return true, time.Time{}, nil
}

// releaseSend undoes reserveSend(msisdn, at) when the SMS was not sent.
func releaseSend(ctx context.Context, s Store, msisdn string, at time.Time, window time.Duration) error {
	_, err := s.Update(ctx, kindSends, []byte(msisdn), func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, errUnchanged
		}
		l, err := decodeSendLog(old.Value)
		if err != nil {
			return state.Record{}, err
		}
		for i := len(l.Times) - 1; i >= 0; i-- {
			if l.Times[i] == at.UnixNano() {
				// Sends at the same instant are alike: any one of them
				// stands for this one.
				l.Times = append(l.Times[:i:i], l.Times[i+1:]...)
				return l.record(window)
			}
		}
		return state.Record{}, errUnchanged
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}
