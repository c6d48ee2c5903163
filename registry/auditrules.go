package registry

import "github.com/hashicorp/go-memdb"

// The audit log's retention is the federation's setting, not a node's: a
// node's flag would let whichever node leads decide how much evidence the
// log keeps, and a hostile leader could set it to a day. It is a
// federation-admin act, so k of n approvals cover it where they are on.

// auditRulesID is the key of the federation's one AuditRules row.
const auditRulesID = "federation"

// Bounds of the retention, in days. The floor keeps a quarter's evidence
// (a dispute raised at the next quarterly reconciliation still finds its
// entries) whatever the admins set; the ceiling bounds the replicated
// log's size.
const (
	DefaultAuditRetentionDays = 400
	MinAuditRetentionDays     = 90
	MaxAuditRetentionDays     = 3650
)

// AuditRules is how long the audit log keeps an entry. Without a row:
// DefaultAuditRetentionDays.
type AuditRules struct {
	ID            string `json:"-"`
	RetentionDays int    `json:"retention_days"`
	Meta
}

func applyPutAuditRules(tx *writeTxn, body []byte) error {
	var rules AuditRules
	if err := decodeJSON(body, &rules); err != nil {
		return err
	}
	if rules.RetentionDays < MinAuditRetentionDays || rules.RetentionDays > MaxAuditRetentionDays {
		return invalidf("retention_days must be between %d and %d", MinAuditRetentionDays, MaxAuditRetentionDays)
	}
	rules.ID = auditRulesID
	return put(tx, tableAuditRules, get[AuditRules](tx.Txn, tableAuditRules, auditRulesID), &rules)
}

// AuditRules is the federation's audit retention.
func (r *Registry) AuditRules() AuditRules {
	return auditRulesIn(r.db.Txn(false))
}

func auditRulesIn(txn *memdb.Txn) AuditRules {
	if rules := get[AuditRules](txn, tableAuditRules, auditRulesID); rules != nil {
		return *rules
	}
	return AuditRules{RetentionDays: DefaultAuditRetentionDays}
}

// auditRetention is how long, in milliseconds, an entry stays.
func auditRetention(txn *memdb.Txn) int64 {
	return int64(auditRulesIn(txn).RetentionDays) * 24 * 3600 * 1000
}

func auditRulesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableAuditRules, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}}
}
