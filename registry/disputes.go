package registry

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mcfed/mcfed/internal/e164"
)

// Range disputes: a number range or IP range claimed by two operators is
// taken by neither. When an operator (its admin, or its node onboarding)
// puts a range that another operator holds, or one inside another
// operator's range (which would take its numbers by the longest match), the
// put is refused as a conflict and the claim recorded as an open dispute in
// the same log entry (authorize.go finds the claim, applyAuthored records
// it); the range stays with its holder. The federation admin settles a
// dispute by awarding the range to the claimant, when it moves in the
// settling command, or to the holder, when it stays.

// DisputeStatus is where a dispute stands.
type DisputeStatus string

const (
	DisputeOpen    DisputeStatus = "open"
	DisputeSettled DisputeStatus = "settled"
)

// What a dispute is about.
const (
	DisputeRange   = "range"
	DisputeIPRange = "ip_range"
)

// Dispute is one operator's claim on a range another operator holds.
type Dispute struct {
	// ID is "<log index of the claim>-<n>": one claim may meet several
	// ranges, each its own dispute.
	ID string `json:"id"`
	// Kind is DisputeRange (Range a number prefix) or DisputeIPRange
	// (Range a CIDR).
	Kind     string `json:"kind"`
	Range    string `json:"range"`
	Claimant string `json:"claimant"`
	// Holder is the operator holding Range, or the range HolderRange that
	// Range lies in, when the claim was made.
	Holder      string        `json:"holder"`
	HolderRange string        `json:"holder_range"`
	Status      DisputeStatus `json:"status"`
	// FiledAt and SettledAt are the leader's clock, Unix milliseconds.
	FiledAt   int64 `json:"filed_at"`
	SettledAt int64 `json:"settled_at,omitempty"`
	// Award is the operator the range was settled on (the audit log
	// names who settled it).
	Award string `json:"award,omitempty"`
	Meta
}

// DisputeID is the id of the n-th dispute (from 1) a claim at log index
// index opened.
func DisputeID(index uint64, n int) string {
	return strconv.FormatUint(index, 10) + "-" + strconv.Itoa(n)
}

// Settlement is the body of CmdSettleDispute.
type Settlement struct {
	ID    string `json:"id"`
	Award string `json:"award"`
}

// claim is a range an operator asked for that another operator holds.
type claim struct {
	kind, rng, claimant, holder, holderRange string
}

// claimRefusal refuses a put that claims other operators' ranges. It is a
// conflict (409) like any refusal, and it records its claims as disputes
// in the transaction that records the refusal (see applyAuthored).
type claimRefusal struct {
	err    *Error
	claims []claim
	ids    []string
}

func (c *claimRefusal) Error() string { return c.err.Error() }
func (c *claimRefusal) Unwrap() error { return c.err }

// refuseClaims is the refusal of claims on ranges others hold. A claim
// that an open dispute already records (the same range by the same
// claimant) is named by that dispute's id, not filed twice: a node
// onboarding at every start claims again.
func refuseClaims(tx *writeTxn, p principal, claims []claim) error {
	r := &claimRefusal{claims: claims}
	var names []string
	n := 0
	for _, c := range claims {
		id := openDisputeOf(tx, c.kind, c.rng, c.claimant)
		if id == "" {
			n++
			id = DisputeID(tx.index, n)
		}
		r.ids = append(r.ids, id)
		what := "range"
		if c.kind == DisputeIPRange {
			what = "IP range"
		}
		names = append(names, fmt.Sprintf("%s %s (operator %s holds %s): dispute %s", what, c.rng, c.holder, c.holderRange, id))
	}
	r.err = &Error{Code: CodeConflict, Message: fmt.Sprintf("%s may not take what another operator holds; the claim is recorded for the federation admin to settle: %s", p, strings.Join(names, "; "))}
	return r
}

// record writes the refusal's new disputes.
func (c *claimRefusal) record(tx *writeTxn) error {
	for i, cl := range c.claims {
		if get[Dispute](tx.Txn, tableDisputes, c.ids[i]) != nil {
			continue
		}
		d := &Dispute{ID: c.ids[i], Kind: cl.kind, Range: cl.rng, Claimant: cl.claimant, Holder: cl.holder,
			HolderRange: cl.holderRange, Status: DisputeOpen, FiledAt: tx.time}
		if err := put(tx, tableDisputes, nil, d); err != nil {
			return err
		}
	}
	return nil
}

func openDisputeOf(tx *writeTxn, kind, rng, claimant string) string {
	it, err := tx.Get(tableDisputes, "status", string(DisputeOpen))
	if err != nil {
		return ""
	}
	for o := it.Next(); o != nil; o = it.Next() {
		if d := o.(*Dispute); d.Kind == kind && d.Range == rng && d.Claimant == claimant {
			return d.ID
		}
	}
	return ""
}

// applySettleDispute closes an open dispute on the operator awarded: the
// claimant, when the range moves to it here, or the holder, when it stays.
func applySettleDispute(tx *writeTxn, body []byte) error {
	var s Settlement
	if err := decodeJSON(body, &s); err != nil {
		return err
	}
	if tx.time == 0 {
		return invalidf("a settlement is an authored command: it needs the leader's clock")
	}
	old := get[Dispute](tx.Txn, tableDisputes, s.ID)
	switch {
	case old == nil:
		return notFoundf("dispute %s does not exist", s.ID)
	case old.Status != DisputeOpen:
		return conflictf("dispute %s is %s, not open", s.ID, old.Status)
	case s.Award != old.Claimant && s.Award != old.Holder:
		return invalidf("dispute %s is between operators %s and %s: award it to one of them", s.ID, old.Claimant, old.Holder)
	}
	if s.Award == old.Claimant {
		if err := moveDisputed(tx, old); err != nil {
			return err
		}
	}
	d := *old
	d.Status, d.Award, d.SettledAt = DisputeSettled, s.Award, tx.time
	return put(tx, tableDisputes, old, &d)
}

// moveDisputed gives the disputed range to its claimant: whoever holds
// exactly that range now loses it, and the claimant's range takes its
// numbers (or addresses) from the range around it by the longest match.
func moveDisputed(tx *writeTxn, d *Dispute) error {
	if d.Kind == DisputeIPRange {
		if cur := get[IPRange](tx.Txn, tableIPRanges, d.Range); cur != nil {
			if cur.Operator == d.Claimant {
				return nil
			}
			if err := applyDeleteIPRange(tx, MustEncode(CmdDeleteIPRange, Key{Key: d.Range})[2:]); err != nil {
				return err
			}
		}
		return applyPutIPRange(tx, MustEncode(CmdPutIPRange, IPRange{CIDR: d.Range, Operator: d.Claimant})[2:])
	}
	v, digits, err := e164.ParsePrefix(d.Range)
	if err != nil {
		return invalidf("dispute %s: range %q: %v", d.ID, d.Range, err)
	}
	to := get[Operator](tx.Txn, tableOperators, d.Claimant)
	if to == nil {
		return notFoundf("dispute %s: operator %q does not exist", d.ID, d.Claimant)
	}
	// Set, not put: the range may be the holder's exactly, and changes
	// hands here.
	tx.onCommit(func() {
		tx.r.ranges.update(func(set func(prefix, Slot)) { set(prefix{v, digits}, to.Slot) })
	})
	return nil
}

// describeSettlement: only the federation admin settles (judge lets it
// through before the rule runs).
func describeSettlement(tx *writeTxn, p principal, body []byte) (subject, func() error, error) {
	var s Settlement
	if err := decodeJSON(body, &s); err != nil {
		return subject{}, nil, err
	}
	sub := single("settle_dispute", tableDisputes, s.ID, s.Award)
	if d := get[Dispute](tx.Txn, tableDisputes, s.ID); d != nil {
		sub.addKey(d.Range)
		sub.concerns(d.Claimant, d.Holder)
	}
	return sub, func() error {
		return forbiddenf("%s may not settle dispute %s: that is the federation admin's", p, s.ID)
	}, nil
}

// DisputeQuery filters disputes. Zero fields do not filter.
type DisputeQuery struct {
	Status DisputeStatus
	// Operator keeps disputes it is party to (claimant or holder).
	Operator string
	// After is the id a page ends with; Limit the page size (100 when 0,
	// at most 1000).
	After string
	Limit int
}

// Disputes lists disputes in the order they were filed.
func (r *Registry) Disputes(q DisputeQuery) Page[Dispute] {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	it, err := r.db.Txn(false).Get(tableDisputes, "id")
	if err != nil {
		return Page[Dispute]{}
	}
	var all []*Dispute
	for o := it.Next(); o != nil; o = it.Next() {
		d := o.(*Dispute)
		switch {
		case q.Status != "" && d.Status != q.Status,
			q.Operator != "" && d.Claimant != q.Operator && d.Holder != q.Operator:
			continue
		}
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b *Dispute) int { return compareDisputeIDs(a.ID, b.ID) })
	if q.After != "" {
		i, _ := slices.BinarySearchFunc(all, q.After, func(d *Dispute, after string) int { return compareDisputeIDs(d.ID, after) })
		if i < len(all) && all[i].ID == q.After {
			i++
		}
		all = all[i:]
	}
	var p Page[Dispute]
	if len(all) > q.Limit {
		all = all[:q.Limit]
		p.Next = all[q.Limit-1].ID
	}
	p.Items = all
	return p
}

// compareDisputeIDs orders ids by the claim's log index, then by n.
func compareDisputeIDs(a, b string) int {
	ai, an := splitDisputeID(a)
	bi, bn := splitDisputeID(b)
	return cmp.Or(cmp.Compare(ai, bi), cmp.Compare(an, bn))
}

func splitDisputeID(id string) (uint64, int) {
	idx, n, _ := strings.Cut(id, "-")
	i, _ := strconv.ParseUint(idx, 10, 64)
	k, _ := strconv.Atoi(n)
	return i, k
}

// Dispute returns the dispute id, or nil.
func (r *Registry) Dispute(id string) *Dispute {
	return get[Dispute](r.db.Txn(false), tableDisputes, id)
}
