package registry

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	memdb "github.com/hashicorp/go-memdb"
)

// The audit log: one entry per authored command, applied or refused,
// keyed by its log index and replicated with the registry (snapshots
// included), so every member can prove who changed what. It is append
// only: no command edits an entry; entries older than the federation's retention
// (AuditRules, auditrules.go), by the leader's clock in the newest command's header, are pruned as
// commands apply.

// Outcomes of an audited command.
const (
	OutcomeApplied = "applied"
	OutcomeRefused = "refused"
	// OutcomeProposed: a federation-admin act that waits for approvals
	// (approvals.go).
	OutcomeProposed = "proposed"
)

// maxAuditKeys bounds the keys an entry lists: a bulk import's batch
// touches thousands; the entry counts them all (KeyCount) and lists the
// first.
const maxAuditKeys = 100

// maxPrunePerApply bounds the entries one command prunes, so that a leader
// whose clock jumped does not stall the log; the rest go with the next
// commands.
const maxPrunePerApply = 1024

// AuditEntry is one authored command as the registry judged it.
type AuditEntry struct {
	Index     uint64 `json:"index"`
	Time      int64  `json:"time"` // the leader's clock, Unix milliseconds
	Author    Author `json:"author"`
	RequestID string `json:"request_id,omitempty"`
	Command   string `json:"command"`
	// Keys are the primary keys the command touches (the first
	// maxAuditKeys of KeyCount).
	Keys     []string `json:"keys,omitempty"`
	KeyCount int      `json:"key_count,omitempty"`
	// Operators are those the command concerns: the author's, and the
	// holders of what it touches, before and after.
	Operators []string `json:"operators,omitempty"`
	Outcome   string   `json:"outcome"`
	Code      Code     `json:"code,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	// Before and After are SHA-256 digests of the row's JSON, for a
	// command that writes one row ("" for no row).
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// auditIndexer keys entries by their log index, big-endian so that memdb
// iterates them in log order (memdb's UintFieldIndex writes varints,
// which do not sort).
type auditIndexer struct{}

func (auditIndexer) FromObject(raw any) (bool, []byte, error) {
	e, ok := raw.(*AuditEntry)
	if !ok {
		return false, nil, fmt.Errorf("audit index: %T is not an audit entry", raw)
	}
	return true, binary.BigEndian.AppendUint64(nil, e.Index), nil
}

func (auditIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, errors.New("audit index: want one argument")
	}
	i, ok := args[0].(uint64)
	if !ok {
		return nil, fmt.Errorf("audit index: %T is not a uint64", args[0])
	}
	return binary.BigEndian.AppendUint64(nil, i), nil
}

func auditTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableAudit, Indexes: map[string]*memdb.IndexSchema{
		"id":       {Name: "id", Unique: true, Indexer: auditIndexer{}},
		"operator": {Name: "operator", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Operators"}},
		"key":      {Name: "key", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Keys"}},
	}}
}

// digest is the SHA-256 of the JSON of table's row key, "" when none.
func digest(txn *memdb.Txn, table, key string) string {
	if table == "" {
		return ""
	}
	raw, err := txn.First(table, "id", key)
	if err != nil || raw == nil {
		return ""
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// audit records entry and prunes what retention lets go, as of now.
func audit(txn *memdb.Txn, e *AuditEntry) error {
	retention := auditRetention(txn)
	if err := txn.Insert(tableAudit, e); err != nil {
		return fmt.Errorf("insert into %s: %w", tableAudit, err)
	}
	return pruneOldest(txn, tableAudit, "id", func(o any) bool { return o.(*AuditEntry).Time < e.Time-retention })
}

// pruneOldest deletes table's rows in the order of index while old holds
// of them, at most maxPrunePerApply (the rest go with the next commands).
func pruneOldest(txn *memdb.Txn, table, index string, old func(any) bool) error {
	it, err := txn.Get(table, index)
	if err != nil {
		return err
	}
	var gone []any
	for o := it.Next(); o != nil && len(gone) < maxPrunePerApply && old(o); o = it.Next() {
		gone = append(gone, o)
	}
	for _, o := range gone {
		if err := txn.Delete(table, o); err != nil {
			return err
		}
	}
	return nil
}

// AuditQuery filters the audit log. Zero fields do not filter.
type AuditQuery struct {
	// Operator keeps entries that concern it (as author or holder).
	Operator string
	// Key keeps entries that touch it (an operator id, a prefix, a client
	// id, a credential id, ...).
	Key string
	// Since and Until bound the leader's time, Unix milliseconds,
	// inclusive.
	Since, Until int64
	// After is the log index to list after (the previous page's Next).
	After uint64
	// Limit is the page size (100 when 0, at most 1000).
	Limit int
}

// Audit lists the audit log in log order, a page at a time.
func (r *Registry) Audit(q AuditQuery) Page[AuditEntry] {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	txn := r.db.Txn(false)
	var it memdb.ResultIterator
	var err error
	switch {
	case q.Key != "":
		it, err = txn.Get(tableAudit, "key", q.Key)
	case q.Operator != "":
		it, err = txn.Get(tableAudit, "operator", q.Operator)
	default:
		it, err = txn.LowerBound(tableAudit, "id", q.After+1)
	}
	if err != nil {
		return Page[AuditEntry]{}
	}
	var p Page[AuditEntry]
	for o := it.Next(); o != nil; o = it.Next() {
		e := o.(*AuditEntry)
		if e.Index <= q.After || q.Since != 0 && e.Time < q.Since || q.Until != 0 && e.Time > q.Until ||
			q.Operator != "" && !slices.Contains(e.Operators, q.Operator) {
			continue
		}
		if len(p.Items) == q.Limit {
			p.Next = strconv.FormatUint(p.Items[len(p.Items)-1].Index, 10)
			break
		}
		p.Items = append(p.Items, e)
	}
	return p
}
