package registry

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
)

// Registry is one replica of the federation's registry. Reads are safe from
// any number of goroutines at any time; Apply serialises writes.
//
// Rows returned by reads are shared with the registry: callers must not
// modify them.
type Registry struct {
	db     *memdb.MemDB
	ranges *prefixIndex
	ips    *ipIndex
	ported *PortedIndex
	// slots maps an operator's Slot to the operator, for the lookups that
	// find a slot (ranges, ported numbers, IP ranges) and must answer with an
	// operator without a memdb read.
	slots atomic.Pointer[[]*Operator]
	// nodeKeys is the nodes' seal keys by id, as of nodeWrites, the
	// count of writes to the nodes' records (sealkeys.go).
	nodeKeys   atomic.Pointer[nodeKeyIndex]
	nodeWrites atomic.Uint64

	mu      sync.Mutex // serialises Apply
	applied atomic.Uint64
	apply   map[CommandType]applyFunc
}

// applyFunc applies one command's body inside a write transaction.
type applyFunc func(tx *writeTxn, body []byte) error

// New returns an empty registry.
func New() *Registry {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant of this package: failing here is a bug.
		panic(fmt.Sprintf("registry schema: %v", err))
	}
	r := &Registry{db: db, ranges: newPrefixIndex(), ips: newIPIndex(), ported: NewPortedIndex()}
	r.slots.Store(&[]*Operator{})
	r.apply = map[CommandType]applyFunc{
		CmdPutOperator:       applyPutOperator,
		CmdDeleteOperator:    applyDeleteOperator,
		CmdPutRanges:         applyPutRanges,
		CmdDeleteRanges:      applyDeleteRanges,
		CmdPortNumbers:       applyPortNumbers,
		CmdPutIPRange:        applyPutIPRange,
		CmdDeleteIPRange:     applyDeleteIPRange,
		CmdPutSP:             applyPutSP,
		CmdDeleteSP:          applyDeleteSP,
		CmdPutScope:          applyPutScope,
		CmdDeleteScope:       applyDeleteScope,
		CmdPutProduct:        applyPutProduct,
		CmdDeleteProduct:     applyDeleteProduct,
		CmdPutNode:           applyPutNode,
		CmdDeleteNode:        applyDeleteNode,
		CmdPutJoinToken:      applyPutJoinToken,
		CmdUseJoinToken:      applyUseJoinToken,
		CmdPutSPPolicy:       applyPutSPPolicy,
		CmdDeleteSPPolicy:    applyDeleteSPPolicy,
		CmdRemoveOperator:    applyRemoveOperator,
		CmdUpdateOperator:    applyUpdateOperator,
		CmdCreate:            applyCreate,
		CmdPutCredentials:    applyPutCredentials,
		CmdRevokeCredential:  applyRevokeCredential,
		CmdFilePortRequest:   applyFilePortRequest,
		CmdDecidePortRequest: applyDecidePortRequest,
		CmdPutPortingRules:   applyPutPortingRules,
		CmdPruneJoinTokens:   applyPruneJoinTokens,
		CmdSettleDispute:     applySettleDispute,
		CmdPutApprovalRules:  applyPutApprovalRules,
		CmdPutAuditRules:     applyPutAuditRules,
		CmdDecideProposal:    applyDecideProposal,
		CmdPutVoterRules:     applyPutVoterRules,
		CmdPromoteNode:       applyPromoteNode,
		CmdPutDeveloper:      applyPutDeveloper,
		CmdDeleteDeveloper:   applyDeleteDeveloper,
		CmdPutAPI:            applyPutAPI,
		CmdDeleteAPI:         applyDeleteAPI,
	}
	return r
}

// AppliedIndex is the log index of the last command applied (accepted,
// refused or skipped).
func (r *Registry) AppliedIndex() uint64 { return r.applied.Load() }

// Apply applies one encoded command at log index index. A refused command
// returns an *Error and changes nothing but the applied index. A command
// this build cannot read returns an *UninterpretableError and changes
// nothing at all, the applied index included, unless its type carries
// SkipIfUnknown: then it is skipped and counted applied. Apply is
// deterministic: it reads neither the clock nor any randomness.
func (r *Registry) Apply(index uint64, cmd []byte) error {
	_, err := r.ApplyWrite(index, cmd)
	return err
}

// ApplyWrite is Apply, also telling the log index at which the command's
// write took effect: index, or, for a repeat of a write already applied
// (an authored command with a write id seen before, writes.go), the index
// of its first copy, whose outcome it returns; a repeat changes nothing
// but the applied index.
func (r *Registry) ApplyWrite(index uint64, cmd []byte) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(cmd) >= 2 && CommandType(cmd[0]) == CmdAuthored {
		return r.applyAuthored(index, cmd)
	}
	fn, err := r.lookup(cmd)
	if err != nil {
		return index, err
	}
	if fn == nil { // unknown, and marked SkipIfUnknown
		r.applied.Store(index)
		return index, nil
	}
	typ, version, body := CommandType(cmd[0]), cmd[1], cmd[2:]
	tx := &writeTxn{Txn: r.db.Txn(true), r: r, index: index}
	defer tx.Abort()
	if err := fn(tx, body); err != nil {
		var ue *UninterpretableError
		if errors.As(err, &ue) {
			ue.Type, ue.Version = typ, version
			return index, ue
		}
		r.applied.Store(index)
		return index, err
	}
	tx.Commit()
	for _, f := range tx.after {
		f()
	}
	r.applied.Store(index)
	return index, nil
}

// Interpretable says whether Apply could read cmd (an *UninterpretableError
// when not), without applying it: a leader checks it before proposing, so
// that it never commits a command every replica would halt on, whether a
// newer node forwarded a type this build does not know yet or a member
// forwarded a body that does not decode. It dry-runs the command as Apply
// would, author and authorization included, in a transaction it throws
// away: the indexes outside memdb change only in on-commit hooks, which a
// dry run never calls. A refusal is no concern of it: nil.
func (r *Registry) Interpretable(cmd []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var h Header
	authored := len(cmd) >= 2 && CommandType(cmd[0]) == CmdAuthored
	if authored {
		var err error
		if h, cmd, err = unwrapAuthored(cmd); err != nil {
			return err
		}
	}
	fn, err := r.lookup(cmd)
	if err != nil || fn == nil {
		return err
	}
	tx := &writeTxn{Txn: r.db.Txn(true), r: r, index: r.applied.Load() + 1, time: h.Time, author: h.Author}
	defer tx.Abort()
	body := cmd[2:]
	if authored {
		if _, refusal := judge(tx, resolve(tx, h.Author), CommandType(cmd[0])&^SkipIfUnknown, body); refusal != nil {
			return uninterpretableOnly(refusal)
		}
	}
	if ue, ok := uninterpretableOnly(fn(tx, body)).(*UninterpretableError); ok {
		ue.Type, ue.Version = CommandType(cmd[0]), cmd[1]
		return ue
	}
	return nil
}

// uninterpretableOnly keeps err only when it says a command cannot be read.
func uninterpretableOnly(err error) error {
	var ue *UninterpretableError
	if errors.As(err, &ue) {
		return ue
	}
	return nil
}

// lookup returns the function that applies cmd; nil and no error when cmd
// is unknown to this build and marked SkipIfUnknown.
func (r *Registry) lookup(cmd []byte) (applyFunc, error) {
	if len(cmd) < 2 {
		return nil, uninterpretable("a command of %d bytes is too short", len(cmd))
	}
	typ, version := CommandType(cmd[0]), cmd[1]
	fn, known := r.apply[typ&^SkipIfUnknown]
	switch {
	case known && version == commandVersion:
		return fn, nil
	case typ&SkipIfUnknown != 0:
		return nil, nil
	case !known:
		return nil, &UninterpretableError{Type: typ, Version: version, Reason: fmt.Sprintf("unknown command type %d", typ)}
	default:
		return nil, &UninterpretableError{Type: typ, Version: version, Reason: fmt.Sprintf("unknown version %d (this build knows %d)", version, commandVersion)}
	}
}

// writeTxn is a memdb write transaction that also carries the changes to the
// registry's own indexes (prefixes, IPs, ported numbers, slots), made only
// once the memdb transaction has committed, so a refused command leaves them
// untouched.
type writeTxn struct {
	*memdb.Txn
	r     *Registry
	index uint64
	// time is the leader's clock in an authored command's header (Unix
	// milliseconds; 0 for a plain command): what a command that depends
	// on time (a port request's deadline) reads in place of a clock.
	time int64
	// author is an authored command's author as its header names it (a
	// vote on a proposal is its author's).
	author Author
	after  []func()
}

func (tx *writeTxn) onCommit(f func()) { tx.after = append(tx.after, f) }

// put inserts or replaces a row, keeping its CreateIndex when it replaces
// existing (nil when the row is new).
func put[T any, P interface {
	*T
	row
}](tx *writeTxn, table string, existing, v P) error {
	m := v.meta()
	m.ModifyIndex = tx.index
	m.CreateIndex = tx.index
	if existing != nil {
		m.CreateIndex = existing.meta().CreateIndex
	}
	if err := tx.Insert(table, v); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// get returns the row of table whose id is key, or nil.
func get[T any](txn *memdb.Txn, table, key string) *T {
	raw, err := txn.First(table, "id", key)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*T)
}

// count returns how many rows of table have value in index.
func count(txn *memdb.Txn, table, index, value string) int {
	it, err := txn.Get(table, index, value)
	if err != nil {
		return 0
	}
	n := 0
	for o := it.Next(); o != nil; o = it.Next() {
		n++
	}
	return n
}

// Page is one page of a listing: the rows, and the key to pass as after to
// get the next page ("" when this is the last).
type Page[T any] struct {
	Items []*T   `json:"items"`
	Next  string `json:"next,omitempty"`
}

// list returns up to limit rows of table in key order, starting after the
// key after, keeping those that pass keep (nil keeps all).
func list[T any](db *memdb.MemDB, table string, key func(*T) string, after string, limit int, keep func(*T) bool) Page[T] {
	if limit <= 0 {
		limit = 100
	}
	txn := db.Txn(false)
	it, err := txn.LowerBound(table, "id", after)
	if err != nil {
		return Page[T]{}
	}
	var p Page[T]
	for o := it.Next(); o != nil; o = it.Next() {
		v := o.(*T)
		if key(v) == after || (keep != nil && !keep(v)) {
			continue
		}
		if len(p.Items) == limit {
			p.Next = key(p.Items[len(p.Items)-1])
			break
		}
		p.Items = append(p.Items, v)
	}
	return p
}

// logOrder lists the rows of table that keep passes in the order of the
// log index that created them, limit at a time (100 when 0, at most
// 1000), after the row created at index after; id is the key a page ends
// with.
func logOrder[T any, P interface {
	*T
	row
}](db *memdb.MemDB, table string, after uint64, limit int, keep func(*T) bool, id func(*T) string) Page[T] {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	it, err := db.Txn(false).Get(table, "id")
	if err != nil {
		return Page[T]{}
	}
	var all []*T
	for o := it.Next(); o != nil; o = it.Next() {
		if v := o.(*T); P(v).meta().CreateIndex > after && keep(v) {
			all = append(all, v)
		}
	}
	created := func(v *T) uint64 { return P(v).meta().CreateIndex }
	slices.SortFunc(all, func(a, b *T) int { return cmp.Compare(created(a), created(b)) })
	var p Page[T]
	if len(all) > limit {
		all = all[:limit]
		p.Next = id(all[limit-1])
	}
	p.Items = all
	return p
}

// withStatus returns the rows of table whose "status" index is status and
// that keep passes.
func withStatus[T any](db *memdb.MemDB, table, status string, keep func(*T) bool) []*T {
	it, err := db.Txn(false).Get(table, "status", status)
	if err != nil {
		return nil
	}
	var out []*T
	for o := it.Next(); o != nil; o = it.Next() {
		if v := o.(*T); keep(v) {
			out = append(out, v)
		}
	}
	return out
}
