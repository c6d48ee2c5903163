package idgw

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Store is where the gateway keeps its login state (state.Store, of which
// it uses these methods): sessions, codes, tokens and their families. It
// is the operator's node-local store, shared by the operator's gateway
// nodes when it is PostgreSQL, so that any node completes a login another
// began and a restart logs no one out. None of it enters the registry.
type Store interface {
	Put(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error
	Create(ctx context.Context, kind state.Kind, key, value []byte, expires time.Time) error
	Get(ctx context.Context, kind state.Kind, key []byte) (state.Record, error)
	Take(ctx context.Context, kind state.Kind, key []byte) (state.Record, error)
	Update(ctx context.Context, kind state.Kind, key []byte, fn func(old state.Record, found bool) (state.Record, error)) (state.Record, error)
	Delete(ctx context.Context, kind state.Kind, key []byte) error
	Scan(ctx context.Context, kind state.Kind, prefix, after []byte, limit int) ([]state.Entry, error)
	Batch(ctx context.Context, ops ...state.Op) error
	Spend(ctx context.Context, counters ...state.Counter) (int, error)
}

// table is one kind of the gateway's state in the Store, typed. Keys are
// the SHA-256 of the secret values (tokenKey), so the store never holds a
// live code or token.
//
// A read that fails in the store is logged and answered as absent: the
// gateway fails closed (a token the store cannot confirm is not accepted,
// a session it cannot read has ended). A write that fails is returned.
type table[V any] struct {
	store Store
	kind  state.Kind
	codec codec[V]
	now   func() time.Time
	log   *slog.Logger
}

func (t *table[V]) put(ctx context.Context, key storeKey, v V, ttl time.Duration) error {
	b, err := t.codec.enc(v)
	if err != nil {
		return err
	}
	return t.store.Put(ctx, t.kind, key[:], b, t.now().Add(ttl))
}

// get returns an unexpired entry.
func (t *table[V]) get(ctx context.Context, key storeKey) (V, bool) {
	r, err := t.store.Get(ctx, t.kind, key[:])
	return t.decode(r, err)
}

// take returns an unexpired entry and removes it in the same step: of any
// number of concurrent takers of a single-use code, on any of the
// operator's nodes, one wins.
func (t *table[V]) take(ctx context.Context, key storeKey) (V, bool) {
	r, err := t.store.Take(ctx, t.kind, key[:])
	return t.decode(r, err)
}

func (t *table[V]) decode(r state.Record, err error) (V, bool) {
	var zero V
	if err != nil {
		if !errors.Is(err, state.ErrNotFound) {
			t.log.Error("state store: a read failed; answered as absent", "kind", t.kind, "error", err)
		}
		return zero, false
	}
	v, err := t.codec.dec(r.Value)
	if err != nil {
		t.log.Error("state store: a record does not decode; answered as absent", "kind", t.kind, "error", err)
		return zero, false
	}
	return v, true
}

// errGone is update's answer when there is no live entry to change.
var errGone = errors.New("idgw: no live entry")

// update replaces an unexpired entry's value with fn's, keeping its
// expiry (ttl 0) or giving it ttl from now. fn's error leaves the entry as
// it was and is returned; errGone when there is no live entry.
func (t *table[V]) update(ctx context.Context, key storeKey, ttl time.Duration, fn func(V) (V, error)) error {
	_, err := t.store.Update(ctx, t.kind, key[:], func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, errGone
		}
		v, err := t.codec.dec(old.Value)
		if err != nil {
			return state.Record{}, err
		}
		if v, err = fn(v); err != nil {
			return state.Record{}, err
		}
		b, err := t.codec.enc(v)
		if err != nil {
			return state.Record{}, err
		}
		expires := old.Expires
		if ttl > 0 {
			expires = t.now().Add(ttl)
		}
		return state.Record{Value: b, Expires: expires}, nil
	})
	return err
}

// putOp is put as an op of a Batch (writeAll).
func (t *table[V]) putOp(key storeKey, v V, ttl time.Duration) (state.Op, error) {
	b, err := t.codec.enc(v)
	if err != nil {
		return state.Op{}, err
	}
	return state.Op{Kind: t.kind, Key: key[:], Value: b, Expires: t.now().Add(ttl)}, nil
}

// deleteOp is delete as an op of a Batch.
func (t *table[V]) deleteOp(key storeKey) state.Op {
	return state.Op{Kind: t.kind, Key: key[:], Delete: true}
}

// writeAll writes ops in one step of the store (one round trip, one
// commit), or none of them; an op that failed to encode (err) writes
// nothing.
func writeAll(ctx context.Context, s Store, ops ...opOrErr) error {
	batch := make([]state.Op, 0, len(ops))
	for _, o := range ops {
		if o.err != nil {
			return o.err
		}
		batch = append(batch, o.op)
	}
	return s.Batch(ctx, batch...)
}

// opOrErr is an op of writeAll, or why it could not be made.
type opOrErr struct {
	op  state.Op
	err error
}

func opOf(op state.Op, err error) opOrErr { return opOrErr{op, err} }

func (t *table[V]) delete(ctx context.Context, key storeKey) {
	if err := t.store.Delete(ctx, t.kind, key[:]); err != nil {
		t.log.Error("state store: a deletion failed", "kind", t.kind, "error", err)
	}
}

// newSecret returns 256 random bits, base64url: codes, tokens, session ids.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenKey is what the tables index a secret by.
func tokenKey(secret string) storeKey {
	return sha256.Sum256([]byte(secret))
}

// storeKey is a table key: a SHA-256, held by value.
type storeKey = [sha256.Size]byte
