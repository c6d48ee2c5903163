package registry

import (
	"fmt"
	"slices"
	"strconv"

	memdb "github.com/hashicorp/go-memdb"
)

// Approvals: where a consortium wants it, a federation admin's act needs k
// of the n federation admins. k is the federation's ApprovalRules
// (approvals_required, 1 by default: every act applies at once, as
// without this file); n is the number of active (unrevoked)
// federation-admin credentials.
//
// The acts concerned are the federation admin's own: those its role's
// licence permits where the rule for any other author would refuse them
// (judge marks them, from authorize.go's rules, so there is no second
// list). With k > 1 such an act is not applied: applyAuthored checks that
// it would apply now, then records it as a pending Proposal carrying its
// command, with its author's approval. Other federation admins approve or
// reject it (CmdDecideProposal); each credential votes once. The approval
// that brings the count to k applies the command in the same log entry,
// judged again as of then by its proposer's credential: a command that
// now fails (what it creates exists) closes the proposal as refused, with
// the reason. A proposal rejected by so many that k approvals are out of
// reach closes as rejected; its proposer may withdraw it; the leader
// expires it once its clock passes ExpiresAt. Every step is an authored
// command, so the audit log says who did what and when; all times are
// the leader's, from the commands' headers.
//
// The federation never locks itself out: with k > 1, a write that would
// leave fewer than k active federation admins (a revocation, a credential
// rewritten) is refused, and k is never set above n.

// ProposalStatus is where a proposal stands.
type ProposalStatus string

const (
	ProposalPending   ProposalStatus = "pending"
	ProposalApplied   ProposalStatus = "applied"
	ProposalRefused   ProposalStatus = "refused"
	ProposalRejected  ProposalStatus = "rejected"
	ProposalWithdrawn ProposalStatus = "withdrawn"
	ProposalExpired   ProposalStatus = "expired"
)

// The decisions on a pending proposal.
const (
	DecideApprove = "approve" // a federation admin
	DecideReject  = "reject"  // a federation admin; its proposer withdraws it
	DecideExpire  = "expire"  // a node (the leader), once its clock passed ExpiresAt
)

// DefaultProposalHours is how long a proposal waits for its approvals
// when the rules say nothing; MaxProposalHours bounds what they may say.
const (
	DefaultProposalHours = 24
	MaxProposalHours     = 30 * 24
)

// approvalRulesID is the key of the federation's one ApprovalRules row.
const approvalRulesID = "federation"

// ApprovalRules is the federation's setting. Without a row, every act
// needs one approval: its author's.
type ApprovalRules struct {
	ID string `json:"-"`
	// Required is k: the approvals a federation admin's act needs.
	Required int `json:"approvals_required"`
	// ExpiryHours is how long a proposal waits (0: DefaultProposalHours).
	ExpiryHours float64 `json:"expiry_hours,omitempty"`
	Meta
}

// Vote is one credential's approval or rejection.
type Vote struct {
	Credential string `json:"credential"`
	Time       int64  `json:"time"` // the leader's clock, Unix milliseconds
}

// Proposal is a federation admin's act waiting for its approvals.
type Proposal struct {
	// ID is the log index of the command that proposed it, in decimal.
	ID string `json:"id"`
	// Command is the encoded command that applies when approved (without
	// its author: the proposer is its author).
	Command []byte `json:"command"`
	// What, Keys and Operators say what the command does, as the audit
	// log would.
	What      string   `json:"what"`
	Keys      []string `json:"keys,omitempty"`
	Operators []string `json:"operators,omitempty"`
	Proposer  string   `json:"proposer"`
	RequestID string   `json:"request_id,omitempty"`
	// ProposedAt, ExpiresAt and DecidedAt are the leader's clock, Unix
	// milliseconds.
	ProposedAt int64          `json:"proposed_at"`
	ExpiresAt  int64          `json:"expires_at"`
	Approvals  []Vote         `json:"approvals"`
	Rejections []Vote         `json:"rejections,omitempty"`
	Status     ProposalStatus `json:"status"`
	DecidedAt  int64          `json:"decided_at,omitempty"`
	// Code and Reason say why a proposal closed refused (the command's
	// refusal when it was to apply) or how it closed.
	Code   Code   `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	Meta
}

// ProposalDecision is the body of CmdDecideProposal.
type ProposalDecision struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
}

// approvalsRequired is k as of tx.
func approvalsRequired(tx *writeTxn) int {
	if rules := get[ApprovalRules](tx.Txn, tableApprovalRules, approvalRulesID); rules != nil && rules.Required > 1 {
		return rules.Required
	}
	return 1
}

// activeFederationAdmins are the credentials that may approve, as of tx.
func activeFederationAdmins(tx *writeTxn) map[string]bool {
	active := map[string]bool{}
	it, err := tx.Get(tableCredentials, "id")
	if err != nil {
		return active
	}
	for o := it.Next(); o != nil; o = it.Next() {
		if c := o.(*Credential); c.Kind == KindAdmin && c.Role == RoleFederationAdmin && !c.Revoked {
			active[c.ID] = true
		}
	}
	return active
}

// keepsApprovers refuses a credentials write that leaves fewer active
// federation admins than the approvals an act needs: the federation could
// then approve nothing, the lowering of k included.
func keepsApprovers(tx *writeTxn) error {
	k := approvalsRequired(tx)
	if n := len(activeFederationAdmins(tx)); k > 1 && n < k {
		return conflictf("this would leave %d active federation admins, and every federation-admin act needs %d approvals: lower approvals_required first", n, k)
	}
	return nil
}

func applyPutApprovalRules(tx *writeTxn, body []byte) error {
	var rules ApprovalRules
	if err := decodeJSON(body, &rules); err != nil {
		return err
	}
	n := len(activeFederationAdmins(tx))
	switch {
	case rules.Required < 1:
		return invalidf("approvals_required must be at least 1")
	case rules.Required > 1 && rules.Required > n:
		return invalidf("approvals_required %d is more than the %d active federation admins", rules.Required, n)
	case rules.ExpiryHours < 0 || rules.ExpiryHours > MaxProposalHours:
		return invalidf("expiry_hours must be between 0 (the default, %d) and %d", DefaultProposalHours, MaxProposalHours)
	}
	rules.ID = approvalRulesID
	return put(tx, tableApprovalRules, get[ApprovalRules](tx.Txn, tableApprovalRules, approvalRulesID), &rules)
}

// needsApprovals says whether an act judge let through must wait for
// approvals rather than apply.
func needsApprovals(tx *writeTxn, s subject) bool {
	return s.licensed && approvalsRequired(tx) > 1
}

// propose records cmd, which p may make and which would apply now, as a
// pending proposal with p's approval.
func propose(tx *writeTxn, h Header, s subject, cmd []byte) (*Proposal, error) {
	hours := float64(DefaultProposalHours)
	if rules := get[ApprovalRules](tx.Txn, tableApprovalRules, approvalRulesID); rules != nil && rules.ExpiryHours > 0 {
		hours = rules.ExpiryHours
	}
	p := &Proposal{ID: strconv.FormatUint(tx.index, 10), Command: slices.Clone(cmd), What: s.command,
		Keys: s.keys, Operators: s.operators, Proposer: h.Author.Credential, RequestID: h.RequestID,
		ProposedAt: tx.time, ExpiresAt: tx.time + int64(hours*3600*1000),
		Approvals: []Vote{{h.Author.Credential, tx.time}}, Status: ProposalPending}
	return p, put(tx, tableProposals, nil, p)
}

// countVotes counts the votes of credentials that are still active
// federation admins.
func countVotes(votes []Vote, active map[string]bool) int {
	n := 0
	for _, v := range votes {
		if active[v.Credential] {
			n++
		}
	}
	return n
}

func voted(votes []Vote, credential string) bool {
	return slices.ContainsFunc(votes, func(v Vote) bool { return v.Credential == credential })
}

// applyDecideProposal records a vote or an expiry; the approval that
// reaches k applies the proposal's command here.
func applyDecideProposal(tx *writeTxn, body []byte) error {
	var d ProposalDecision
	if err := decodeJSON(body, &d); err != nil {
		return err
	}
	if tx.time == 0 {
		return invalidf("a decision on a proposal is an authored command: it needs the leader's clock")
	}
	old := get[Proposal](tx.Txn, tableProposals, d.ID)
	switch {
	case old == nil:
		return notFoundf("proposal %s does not exist", d.ID)
	case old.Status != ProposalPending:
		return conflictf("proposal %s is already %s", d.ID, old.Status)
	}
	p := *old
	p.Approvals, p.Rejections = slices.Clone(old.Approvals), slices.Clone(old.Rejections)
	who := tx.author.Credential
	if d.Decision == DecideExpire {
		if tx.time < p.ExpiresAt {
			return conflictf("proposal %s expires at %d, not before", d.ID, p.ExpiresAt)
		}
		p.Status, p.DecidedAt = ProposalExpired, tx.time
		return put(tx, tableProposals, old, &p)
	}
	switch {
	case d.Decision != DecideApprove && d.Decision != DecideReject:
		return invalidf("decision %q is none of approve, reject", d.Decision)
	case tx.time >= p.ExpiresAt:
		return conflictf("proposal %s expired at %d", d.ID, p.ExpiresAt)
	case d.Decision == DecideReject && who == p.Proposer:
		p.Status, p.DecidedAt, p.Reason = ProposalWithdrawn, tx.time, "withdrawn by its proposer"
		return put(tx, tableProposals, old, &p)
	case voted(p.Approvals, who):
		return conflictf("credential %s already approved proposal %s: each federation admin counts once", who, d.ID)
	case voted(p.Rejections, who):
		return conflictf("credential %s already rejected proposal %s", who, d.ID)
	}
	active := activeFederationAdmins(tx)
	k := approvalsRequired(tx)
	if d.Decision == DecideReject {
		p.Rejections = append(p.Rejections, Vote{who, tx.time})
		if len(active)-countVotes(p.Rejections, active) < k {
			p.Status, p.DecidedAt = ProposalRejected, tx.time
			p.Reason = fmt.Sprintf("%d of %d federation admins rejected it: %d approvals are out of reach", countVotes(p.Rejections, active), len(active), k)
		}
		return put(tx, tableProposals, old, &p)
	}
	p.Approvals = append(p.Approvals, Vote{who, tx.time})
	if countVotes(p.Approvals, active) < k {
		return put(tx, tableProposals, old, &p)
	}
	if err := applyProposed(tx, &p); err != nil {
		return &proposalRefusal{err: err, id: d.ID}
	}
	p.Status, p.DecidedAt = ProposalApplied, tx.time
	return put(tx, tableProposals, old, &p)
}

// applyProposed applies an approved proposal's command as its proposer's,
// judged as of now.
func applyProposed(tx *writeTxn, p *Proposal) error {
	fn, err := tx.r.lookup(p.Command)
	if err != nil {
		return err
	}
	if fn == nil {
		return invalidf("proposal %s: this build skips its command", p.ID)
	}
	typ, body := CommandType(p.Command[0])&^SkipIfUnknown, p.Command[2:]
	if _, refusal := judge(tx, resolve(tx, Author{Credential: p.Proposer}), typ, body); refusal != nil {
		return refusal
	}
	return fn(tx, body)
}

// proposalRefusal: the approval that reached k found the command refused.
// The approval's changes go with the command's; record closes the
// proposal as refused, with the approval and the reason, in the entry
// that records the refusal (see applyAuthored).
type proposalRefusal struct {
	err error
	id  string
}

func (r *proposalRefusal) Error() string {
	return fmt.Sprintf("proposal %s reached its approvals, and its command was refused: %v", r.id, r.err)
}
func (r *proposalRefusal) Unwrap() error { return r.err }

func (r *proposalRefusal) record(tx *writeTxn) error {
	old := get[Proposal](tx.Txn, tableProposals, r.id)
	if old == nil {
		return nil
	}
	p := *old
	p.Approvals = append(slices.Clone(old.Approvals), Vote{tx.author.Credential, tx.time})
	p.Status, p.DecidedAt, p.Code, p.Reason = ProposalRefused, tx.time, CodeOf(r.err), r.err.Error()
	return put(tx, tableProposals, old, &p)
}

// describeDecision: federation admins vote, a node expires; the audit
// entry names what the proposal does, so that a search by its keys finds
// every step.
func describeDecision(tx *writeTxn, p principal, body []byte) (subject, func() error, error) {
	var d ProposalDecision
	if err := decodeJSON(body, &d); err != nil {
		return subject{}, nil, err
	}
	name := "decide_proposal"
	if d.Decision == DecideApprove || d.Decision == DecideReject || d.Decision == DecideExpire {
		name = d.Decision + "_proposal"
	}
	s := single(name, tableProposals, d.ID)
	if prop := get[Proposal](tx.Txn, tableProposals, d.ID); prop != nil {
		s.command += ":" + prop.What
		for _, k := range prop.Keys {
			s.addKey(k)
		}
		s.concerns(prop.Operators...)
	}
	return s, func() error {
		if d.Decision == DecideExpire {
			if p.Kind != KindNode {
				return forbiddenf("%s may not expire proposal %s: the leader does, by its clock", p, d.ID)
			}
			return nil
		}
		if !p.federation() {
			return forbiddenf("%s may not %s proposal %s: federation admins decide", p, d.Decision, d.ID)
		}
		return nil
	}, nil
}

// ProposalQuery filters proposals. Zero fields do not filter.
type ProposalQuery struct {
	Status ProposalStatus
	// After is the id a page ends with; Limit the page size (100 when 0,
	// at most 1000).
	After string
	Limit int
}

// Proposals lists proposals in the order they were made.
func (r *Registry) Proposals(q ProposalQuery) Page[Proposal] {
	after, _ := strconv.ParseUint(q.After, 10, 64)
	return logOrder(r.db, tableProposals, after, q.Limit, func(p *Proposal) bool {
		return q.Status == "" || p.Status == q.Status
	}, func(p *Proposal) string { return p.ID })
}

// Proposal returns the proposal id, or nil.
func (r *Registry) Proposal(id string) *Proposal {
	return get[Proposal](r.db.Txn(false), tableProposals, id)
}

// DueProposals are the pending proposals whose expiry is at or before now
// (Unix milliseconds): the leader expires them.
func (r *Registry) DueProposals(now int64) []*Proposal {
	return withStatus(r.db, tableProposals, string(ProposalPending), func(p *Proposal) bool { return p.ExpiresAt <= now })
}

// ApprovalRules returns the federation's approval rules (Required 1 when
// it set none).
func (r *Registry) ApprovalRules() ApprovalRules {
	if rules := get[ApprovalRules](r.db.Txn(false), tableApprovalRules, approvalRulesID); rules != nil {
		return *rules
	}
	return ApprovalRules{Required: 1}
}

// FederationAdmins is n: the active federation-admin credentials.
func (r *Registry) FederationAdmins() int {
	return len(activeFederationAdmins(&writeTxn{Txn: r.db.Txn(false)}))
}

func approvalRulesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableApprovalRules, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}}
}

func proposalsTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableProposals, Indexes: map[string]*memdb.IndexSchema{
		"id":     idIndex("ID"),
		"status": {Name: "status", Indexer: &memdb.StringFieldIndex{Field: "Status"}},
	}}
}
