package registry

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/mcfed/mcfed/internal/e164"
)

// Port requests: how a number moves between operators by decision, not by
// a write. The recipient operator's admin files a request for numbers the
// donor serves today; it is pending until the donor's admin accepts (the
// numbers are ported in the same command) or declines (nothing changes),
// the recipient withdraws it, the federation admin cancels it, or its
// deadline passes, when the federation's porting rules say what happens:
// the numbers port (silence is consent, as national portability rules
// usually have it) or the request expires. The registry reads no clock: a
// request's times are the leader's, from the authored command's header,
// and the deadline is applied by a command the leader issues once its
// clock has passed it, which the registry refuses before then.
//
// A request names numbers of one donor only: a request spanning several
// is refused, because each donor decides for its own numbers alone.

// PortRequestStatus is where a port request stands.
type PortRequestStatus string

const (
	PortPending   PortRequestStatus = "pending"
	PortAccepted  PortRequestStatus = "accepted"
	PortDeclined  PortRequestStatus = "declined"
	PortWithdrawn PortRequestStatus = "withdrawn"
	PortCancelled PortRequestStatus = "cancelled"
	PortExpired   PortRequestStatus = "expired"
	// PortVoid: when it was decided, a number no longer was the donor's
	// (the porting authority's feed moved it meanwhile); nothing ported.
	PortVoid PortRequestStatus = "void"
)

// The decisions on a pending request, and who makes each.
const (
	DecideAccept   = "accept"   // the donor's admin
	DecideDecline  = "decline"  // the donor's admin
	DecideWithdraw = "withdraw" // the recipient's admin
	DecideCancel   = "cancel"   // the federation admin
	DecideDeadline = "deadline" // a node (the leader), once its clock passed the deadline
)

// Deadline outcomes the porting rules may choose.
const (
	OnDeadlineAccept = "accept"
	OnDeadlineExpire = "expire"
)

// MaxPortRequestNumbers bounds the numbers of one request: a bulk move is
// the porting authority's import.
const MaxPortRequestNumbers = 1000

// PortRequest is a request to port numbers from Donor to Recipient.
type PortRequest struct {
	// ID is the log index of the command that filed it, in decimal.
	ID        string            `json:"id"`
	Recipient string            `json:"recipient"`
	Donor     string            `json:"donor"`
	Numbers   []string          `json:"numbers"`
	Status    PortRequestStatus `json:"status"`
	// FiledAt, Deadline (0: none) and DecidedAt are the leader's clock,
	// Unix milliseconds.
	FiledAt   int64 `json:"filed_at"`
	Deadline  int64 `json:"deadline,omitempty"`
	DecidedAt int64 `json:"decided_at,omitempty"`
	// DecidedBy is the credential that decided, or "deadline".
	DecidedBy string `json:"decided_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Meta
}

// PortRequestFiling is the body of CmdFilePortRequest. The donor is not
// in it: the registry finds it from who serves the numbers.
type PortRequestFiling struct {
	Recipient string   `json:"recipient"`
	Numbers   []uint64 `json:"numbers"`
	// DeadlineHours is the time the donor has to decide, at most the
	// porting rules' MaxDeadlineHours; 0 takes the rules' maximum.
	DeadlineHours float64 `json:"deadline_hours,omitempty"`
}

// PortDecision is the body of CmdDecidePortRequest.
type PortDecision struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
}

// portingRulesID is the key of the federation's one PortingRules row.
const portingRulesID = "federation"

// PortingRules are the federation's porting rules. Without a row (the
// default), requests have no deadline.
type PortingRules struct {
	ID string `json:"-"`
	// MaxDeadlineHours bounds a request's deadline (0: no deadline).
	MaxDeadlineHours float64 `json:"max_deadline_hours"`
	// OnDeadline is what a deadline passing does: OnDeadlineAccept ports
	// the numbers, OnDeadlineExpire closes the request.
	OnDeadline string `json:"on_deadline,omitempty"`
	Meta
}

// PortRequestID is the id of the request filed at log index index.
func PortRequestID(index uint64) string { return strconv.FormatUint(index, 10) }

// requestedNumber reads back a number a request holds, as e164.Format
// wrote it (no validation beyond that: it was checked when filed).
func requestedNumber(s string) (uint64, error) {
	if len(s) < 2 || s[0] != '+' {
		return 0, fmt.Errorf("%q is not an E.164 number", s)
	}
	return strconv.ParseUint(s[1:], 10, 64)
}

// donorOf finds who serves every number today: one operator, or a refusal.
func donorOf(tx *writeTxn, nums []uint64) (string, error) {
	donor := ""
	for _, n := range nums {
		res, ok := tx.r.Resolve(n)
		if !ok {
			return "", notFoundf("%s is in no operator's range", e164.Format(n))
		}
		switch {
		case donor == "":
			donor = res.Operator.ID
		case donor != res.Operator.ID:
			return "", invalidf("the numbers are served by operators %s and %s: file one request per donor", donor, res.Operator.ID)
		}
	}
	return donor, nil
}

func applyFilePortRequest(tx *writeTxn, body []byte) error {
	var f PortRequestFiling
	if err := decodeJSON(body, &f); err != nil {
		return err
	}
	if tx.time == 0 {
		return invalidf("a port request is an authored command: it needs the leader's clock")
	}
	switch {
	case len(f.Numbers) == 0:
		return invalidf("a port request names at least one number")
	case len(f.Numbers) > MaxPortRequestNumbers:
		return invalidf("a port request names at most %d numbers; a bulk move is the porting authority's", MaxPortRequestNumbers)
	case f.DeadlineHours < 0:
		return invalidf("deadline_hours must not be negative")
	}
	if get[Operator](tx.Txn, tableOperators, f.Recipient) == nil {
		return notFoundf("operator %q does not exist", f.Recipient)
	}
	seen := map[uint64]bool{}
	for _, n := range f.Numbers {
		if n == 0 || n >= pow10[maxDigits] {
			return invalidf("%d is not an E.164 number", n)
		}
		if seen[n] {
			return invalidf("%s is named twice", e164.Format(n))
		}
		seen[n] = true
	}
	donor, err := donorOf(tx, f.Numbers)
	if err != nil {
		return err
	}
	if donor == f.Recipient {
		return invalidf("operator %s already serves these numbers", donor)
	}
	if err := noneInPending(tx, seen); err != nil {
		return err
	}
	req := &PortRequest{ID: PortRequestID(tx.index), Recipient: f.Recipient, Donor: donor, Status: PortPending, FiledAt: tx.time}
	for _, n := range f.Numbers {
		req.Numbers = append(req.Numbers, e164.Format(n))
	}
	rules := get[PortingRules](tx.Txn, tablePortingRules, portingRulesID)
	maxHours := 0.0
	if rules != nil {
		maxHours = rules.MaxDeadlineHours
	}
	hours := f.DeadlineHours
	switch {
	case hours > 0 && maxHours == 0:
		return invalidf("the federation's porting rules set no deadline")
	case hours > maxHours:
		return invalidf("deadline_hours %g is over the federation's %g", hours, maxHours)
	case hours == 0:
		hours = maxHours
	}
	if hours > 0 {
		req.Deadline = tx.time + int64(hours*3600*1000)
	}
	return put(tx, tablePortRequests, nil, req)
}

// noneInPending refuses numbers a pending request already names: one
// number, one decision at a time.
func noneInPending(tx *writeTxn, nums map[uint64]bool) error {
	it, err := tx.Get(tablePortRequests, "status", string(PortPending))
	if err != nil {
		return err
	}
	for o := it.Next(); o != nil; o = it.Next() {
		req := o.(*PortRequest)
		for _, s := range req.Numbers {
			if n, err := requestedNumber(s); err == nil && nums[n] {
				return conflictf("%s is in pending port request %s", s, req.ID)
			}
		}
	}
	return nil
}

func applyDecidePortRequest(tx *writeTxn, body []byte) error {
	var d PortDecision
	if err := decodeJSON(body, &d); err != nil {
		return err
	}
	old := get[PortRequest](tx.Txn, tablePortRequests, d.ID)
	if old == nil {
		return notFoundf("port request %s does not exist", d.ID)
	}
	if old.Status != PortPending {
		return conflictf("port request %s is %s, not pending", d.ID, old.Status)
	}
	req := *old
	req.Numbers = slices.Clone(old.Numbers)
	req.DecidedAt = tx.time
	port := false
	switch d.Decision {
	case DecideAccept:
		req.Status, port = PortAccepted, true
	case DecideDecline:
		req.Status = PortDeclined
	case DecideWithdraw:
		req.Status = PortWithdrawn
	case DecideCancel:
		req.Status = PortCancelled
	case DecideDeadline:
		if req.Deadline == 0 || tx.time < req.Deadline {
			return conflictf("port request %s has not reached its deadline", d.ID)
		}
		req.Status, req.DecidedBy = PortExpired, "deadline"
		if rules := get[PortingRules](tx.Txn, tablePortingRules, portingRulesID); rules != nil && rules.OnDeadline == OnDeadlineAccept {
			req.Status, port = PortAccepted, true
		}
	default:
		return invalidf("decision %q is none of accept, decline, withdraw, cancel", d.Decision)
	}
	if port {
		if err := portRequested(tx, &req); err != nil {
			return err
		}
	}
	return put(tx, tablePortRequests, old, &req)
}

// portRequested ports an accepted request's numbers to its recipient, if
// the donor still serves every one; else the request is void.
func portRequested(tx *writeTxn, req *PortRequest) error {
	to := get[Operator](tx.Txn, tableOperators, req.Recipient)
	if to == nil {
		req.Status, req.Reason = PortVoid, "operator "+req.Recipient+" no longer exists"
		return nil
	}
	rows := make([]PortRow, 0, len(req.Numbers))
	for _, s := range req.Numbers {
		n, err := requestedNumber(s)
		if err != nil {
			return invalidf("port request %s: %v", req.ID, err)
		}
		if res, ok := tx.r.Resolve(n); !ok || res.Operator.ID != req.Donor {
			req.Status, req.Reason = PortVoid, s+" is no longer operator "+req.Donor+"'s"
			return nil
		}
		row := PortRow{Number: n, Slot: to.Slot}
		if tx.r.ranges.lookup(n, digitsOf(n)) == to.Slot {
			row.Slot = 0 // back to its range's holder: no longer ported
		}
		rows = append(rows, row)
	}
	tx.onCommit(func() { tx.r.ported.Apply(rows) })
	return nil
}

func applyPutPortingRules(tx *writeTxn, body []byte) error {
	var rules PortingRules
	if err := decodeJSON(body, &rules); err != nil {
		return err
	}
	switch {
	case rules.MaxDeadlineHours < 0:
		return invalidf("max_deadline_hours must not be negative")
	case rules.OnDeadline == "" && rules.MaxDeadlineHours > 0:
		return invalidf("on_deadline (accept or expire) is required with a deadline")
	case rules.OnDeadline != "" && rules.OnDeadline != OnDeadlineAccept && rules.OnDeadline != OnDeadlineExpire:
		return invalidf("on_deadline must be accept or expire")
	}
	rules.ID = portingRulesID
	return put(tx, tablePortingRules, get[PortingRules](tx.Txn, tablePortingRules, portingRulesID), &rules)
}

// describePortRequest is the subject and the rule of a port request
// command, for authorize.go. The federation admin's general licence does
// not apply: only the recipient files and withdraws, only the donor
// accepts and declines; the federation admin cancels and sets the rules.
func describePortRequest(tx *writeTxn, p principal, typ CommandType, body []byte) (subject, func() error, error) {
	switch typ {
	case CmdFilePortRequest:
		var f PortRequestFiling
		if err := decodeJSON(body, &f); err != nil {
			return subject{}, nil, err
		}
		s := single("file_port_request", tablePortRequests, PortRequestID(tx.index), f.Recipient)
		for i, n := range f.Numbers {
			if i < maxAuditKeys {
				s.addKey(e164.Format(n))
			}
			if res, ok := tx.r.Resolve(n); ok {
				s.concerns(res.Operator.ID)
			}
		}
		return s, func() error {
			if f.Recipient == "" || p.actsFor() != f.Recipient {
				return forbiddenf("%s may not file a port request for operator %q: the recipient operator's admin files it", p, f.Recipient)
			}
			return nil
		}, nil
	case CmdDecidePortRequest:
		var d PortDecision
		if err := decodeJSON(body, &d); err != nil {
			return subject{}, nil, err
		}
		req := get[PortRequest](tx.Txn, tablePortRequests, d.ID)
		s := single(d.Decision+"_port_request", tablePortRequests, d.ID)
		if req == nil {
			return s, func() error { return nil }, nil // the apply says not found
		}
		s.concerns(req.Recipient, req.Donor)
		for i, n := range req.Numbers {
			if i < maxAuditKeys {
				s.addKey(n)
			}
		}
		return s, func() error { return mayDecide(p, req, d.Decision) }, nil
	}
	var rules PortingRules
	err := decodeJSON(body, &rules)
	// Only the federation admin's licence lets it (judge): an act that
	// may need approvals (approvals.go).
	return single("put_porting_rules", tablePortingRules, portingRulesID), func() error {
		return forbiddenf("%s may not set the porting rules: that is the federation admin's", p)
	}, err
}

func mayDecide(p principal, req *PortRequest, decision string) error {
	switch decision {
	case DecideAccept, DecideDecline:
		if p.actsFor() != req.Donor {
			return forbiddenf("%s may not %s port request %s: the donor, operator %s, decides", p, decision, req.ID, req.Donor)
		}
	case DecideWithdraw:
		if p.actsFor() != req.Recipient {
			return forbiddenf("%s may not withdraw port request %s: operator %s filed it", p, req.ID, req.Recipient)
		}
	case DecideCancel:
		if !p.federation() {
			return forbiddenf("%s may not cancel port request %s: that is the federation admin's", p, req.ID)
		}
	case DecideDeadline:
		if p.Kind != KindNode {
			return forbiddenf("%s may not apply port request %s's deadline: the leader does, by its clock", p, req.ID)
		}
	}
	return nil
}

// PortRequestQuery filters port requests. Zero fields do not filter.
type PortRequestQuery struct {
	Donor, Recipient string
	// Operator keeps requests where it is donor or recipient.
	Operator string
	Status   PortRequestStatus
	// After is the id a page ends with; Limit the page size (100 when 0,
	// at most 1000).
	After string
	Limit int
}

// PortRequests lists port requests in the order they were filed.
func (r *Registry) PortRequests(q PortRequestQuery) Page[PortRequest] {
	after, _ := strconv.ParseUint(q.After, 10, 64)
	return logOrder(r.db, tablePortRequests, after, q.Limit, func(req *PortRequest) bool {
		switch {
		case q.Donor != "" && req.Donor != q.Donor,
			q.Recipient != "" && req.Recipient != q.Recipient,
			q.Operator != "" && req.Donor != q.Operator && req.Recipient != q.Operator,
			q.Status != "" && req.Status != q.Status:
			return false
		}
		return true
	}, func(req *PortRequest) string { return req.ID })
}

// PortRequest returns the port request id, or nil.
func (r *Registry) PortRequest(id string) *PortRequest {
	return get[PortRequest](r.db.Txn(false), tablePortRequests, id)
}

// DuePortRequests are the pending requests whose deadline is at or before
// now (Unix milliseconds): the leader decides them.
func (r *Registry) DuePortRequests(now int64) []*PortRequest {
	return withStatus(r.db, tablePortRequests, string(PortPending), func(req *PortRequest) bool {
		return req.Deadline != 0 && req.Deadline <= now
	})
}

// PortingRules returns the federation's porting rules (zero: no deadline).
func (r *Registry) PortingRules() PortingRules {
	if rules := get[PortingRules](r.db.Txn(false), tablePortingRules, portingRulesID); rules != nil {
		return *rules
	}
	return PortingRules{}
}
