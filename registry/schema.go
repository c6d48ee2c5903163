package registry

import (
	memdb "github.com/hashicorp/go-memdb"
)

// Table names. Each table's rows are one Go type, keyed by the "id" index.
// Number ranges and ported numbers have indexes of their own (ranges.go,
// ported.go): at a country's scale memdb costs too much per row.
const (
	tableOperators    = "operators"
	tableIPRanges     = "ip_ranges"
	tableSPs          = "service_providers"
	tableScopes       = "scopes"
	tableProducts     = "products"
	tableNodes        = "nodes"
	tableJoinTokens   = "join_tokens"
	tableSPPolicies   = "sp_policies"
	tableCredentials  = "credentials"
	tableAudit        = "audit"
	tablePortRequests = "port_requests"
	tablePortingRules = "porting_rules"
	tableDisputes     = "disputes"
	// The approvals of federation-admin acts (approvals.go).
	tableApprovalRules = "approval_rules"
	tableProposals     = "proposals"
	// The outcomes of recent writes, by write id (writes.go).
	tableWrites = "writes"
	// The audit log's retention (auditrules.go).
	tableAuditRules = "audit_rules"
	// The Raft voters and standby non-voters (voters.go).
	tableVoterRules = "voter_rules"
	// The catalogue's developers and APIs (developers.go).
	tableDevelopers = "developers"
	tableAPIs       = "apis"
)

// Meta is the Raft bookkeeping every row carries: the log index that created
// it and the one that last changed it.
type Meta struct {
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

func (m *Meta) meta() *Meta { return m }

// row is what every table's type has in common.
type row interface {
	meta() *Meta
}

func schema() *memdb.DBSchema {
	db := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, t := range []*memdb.TableSchema{
		operatorsTable(), ipRangesTable(), spsTable(),
		scopesTable(), productsTable(), nodesTable(), joinTokensTable(), spPoliciesTable(),
		credentialsTable(), auditTable(), portRequestsTable(), portingRulesTable(),
		disputesTable(), approvalRulesTable(), proposalsTable(), writesTable(), auditRulesTable(),
		voterRulesTable(), developersTable(), apisTable(),
	} {
		db.Tables[t.Name] = t
	}
	return db
}

func idIndex(field string) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: field}}
}

// operatorIndex indexes rows by the operator they belong to, so that an
// operator's IP ranges can be listed and an operator still referenced cannot
// be deleted.
func operatorIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: "operator", Indexer: &memdb.StringFieldIndex{Field: "Operator"}}
}

func operatorsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableOperators, Indexes: map[string]*memdb.IndexSchema{
		"id":      idIndex("ID"),
		"network": {Name: "network", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Networks"}},
	}}
}

func ipRangesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableIPRanges, Indexes: map[string]*memdb.IndexSchema{
		"id": idIndex("CIDR"), "operator": operatorIndex(),
	}}
}

func spsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableSPs, Indexes: map[string]*memdb.IndexSchema{
		"id":        idIndex("ClientID"),
		"operator":  {Name: "operator", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Operators"}},
		"scope":     {Name: "scope", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Scopes"}},
		"developer": {Name: "developer", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Developer"}},
	}}
}

func scopesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableScopes, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("Name")}}
}

func productsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableProducts, Indexes: map[string]*memdb.IndexSchema{
		"id":    idIndex("ID"),
		"scope": {Name: "scope", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Scopes"}},
	}}
}

func nodesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
		"id":       idIndex("ID"),
		"operator": {Name: "operator", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Operator"}},
	}}
}

func joinTokensTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableJoinTokens, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("Hash")}}
}

func spPoliciesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableSPPolicies, Indexes: map[string]*memdb.IndexSchema{
		"id": idIndex("ID"), "operator": operatorIndex(),
		"sp": {Name: "sp", Indexer: &memdb.StringFieldIndex{Field: "ClientID"}},
	}}
}

func credentialsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableCredentials, Indexes: map[string]*memdb.IndexSchema{
		"id":       idIndex("ID"),
		"operator": {Name: "operator", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Operator"}},
	}}
}

func portRequestsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tablePortRequests, Indexes: map[string]*memdb.IndexSchema{
		"id":     idIndex("ID"),
		"status": {Name: "status", Indexer: &memdb.StringFieldIndex{Field: "Status"}},
	}}
}

func portingRulesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tablePortingRules, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}}
}

func disputesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableDisputes, Indexes: map[string]*memdb.IndexSchema{
		"id":     idIndex("ID"),
		"status": {Name: "status", Indexer: &memdb.StringFieldIndex{Field: "Status"}},
	}}
}
