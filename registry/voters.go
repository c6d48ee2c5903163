package registry

import (
	"slices"

	"github.com/hashicorp/go-memdb"
)

// Which nodes vote in Raft is the federation's setting, not a join
// token's alone: a federation of fifty operators' nodes runs three or five
// voters, and every other node replicates as a non-voter. The rules name
// the voters and the standby non-voters the leader may promote, on its
// own, in place of a voter it has lost; the leader brings the Raft
// configuration to them (raft/voters.go). The registry cannot see the
// configuration (it is not a command), so the rules say what should be,
// and a promotion is recorded here first, judged and audited like any
// other act, then carried out.

// voterRulesID is the key of the federation's one VoterRules row.
const voterRulesID = "federation"

// Bounds of the rules. More than 9 voters makes every write wait for a
// larger quorum and gains nothing a federation needs.
const (
	MaxVoters                  = 9
	DefaultPromoteAfterSeconds = 30
	MaxPromoteAfterSeconds     = 24 * 3600
)

// VoterRules are the federation's voters and standby non-voters.
type VoterRules struct {
	ID string `json:"-"`
	// Voters are the nodes that vote: a node joining with another id is
	// admitted as a non-voter, whatever its token says.
	Voters []string `json:"voters"`
	// Standby are non-voters the leader may promote, one at a time, when
	// a voter has been out of contact for PromoteAfterSeconds: the
	// promoted node takes the lost voter's place in Voters, and the lost
	// voter goes to Standby (demoted, it stays a member).
	Standby []string `json:"standby"`
	// PromoteAfterSeconds is how long a voter must be out of the leader's
	// contact before it is replaced, and the least time between two
	// automatic promotions (no flapping).
	PromoteAfterSeconds int `json:"promote_after_seconds"`
	// LastPromotion is the leader's clock, in Unix seconds, at the last
	// promotion these rules recorded.
	LastPromotion int64 `json:"last_promotion,omitempty"`
	Meta
}

// Promotion is the body of CmdPromoteNode: Node becomes a voter, in place
// of Replaces when set (which becomes a standby non-voter). Now is the
// leader's clock. A federation admin promotes any member; a node (the
// leader, on its own) only a standby in place of a voter of the rules, and
// not within PromoteAfterSeconds of the last promotion.
type Promotion struct {
	Node     string `json:"node"`
	Replaces string `json:"replaces,omitempty"`
	Now      int64  `json:"now"`
}

func applyPutVoterRules(tx *writeTxn, body []byte) error {
	var rules VoterRules
	if err := decodeJSON(body, &rules); err != nil {
		return err
	}
	if err := rules.validate(); err != nil {
		return err
	}
	old := get[VoterRules](tx.Txn, tableVoterRules, voterRulesID)
	if old != nil {
		rules.LastPromotion = old.LastPromotion
	}
	rules.ID = voterRulesID
	return put(tx, tableVoterRules, old, &rules)
}

// validate checks rules as an admin puts them, defaulting the interval.
func (v *VoterRules) validate() error {
	if len(v.Voters) == 0 || len(v.Voters) > MaxVoters {
		return invalidf("voters must name 1 to %d nodes (3 or 5 is the usual choice)", MaxVoters)
	}
	seen := map[string]bool{}
	for _, list := range [][]string{v.Voters, v.Standby} {
		for _, id := range list {
			if err := checkID("node id", id); err != nil {
				return err
			}
			if seen[id] {
				return invalidf("node %s is named twice: a node is a voter or a standby, once", id)
			}
			seen[id] = true
		}
	}
	if v.Standby == nil {
		v.Standby = []string{}
	}
	if v.PromoteAfterSeconds == 0 {
		v.PromoteAfterSeconds = DefaultPromoteAfterSeconds
	}
	if v.PromoteAfterSeconds < 1 || v.PromoteAfterSeconds > MaxPromoteAfterSeconds {
		return invalidf("promote_after_seconds must be between 1 and %d", MaxPromoteAfterSeconds)
	}
	v.LastPromotion = 0
	return nil
}

// applyPromoteNode records a promotion in the rules (there are none to
// change when the federation has set none: then the act is only audited,
// and the leader changes Raft's configuration).
func applyPromoteNode(tx *writeTxn, body []byte) error {
	var p Promotion
	if err := decodeJSON(body, &p); err != nil {
		return err
	}
	if get[Node](tx.Txn, tableNodes, p.Node) == nil {
		return notFoundf("node %s is not a member", p.Node)
	}
	if p.Replaces == p.Node {
		return invalidf("a node does not replace itself")
	}
	old := get[VoterRules](tx.Txn, tableVoterRules, voterRulesID)
	if old == nil {
		return nil
	}
	rules := *old
	rules.Voters = slices.DeleteFunc(slices.Clone(rules.Voters), func(id string) bool { return id == p.Node || id == p.Replaces })
	rules.Standby = slices.DeleteFunc(slices.Clone(rules.Standby), func(id string) bool { return id == p.Node || id == p.Replaces })
	rules.Voters = append(rules.Voters, p.Node)
	if p.Replaces != "" {
		rules.Standby = append(rules.Standby, p.Replaces)
	}
	if len(rules.Voters) > MaxVoters {
		return conflictf("the federation has %d voters already, the most it may have: name a voter the node replaces", MaxVoters)
	}
	rules.LastPromotion = p.Now
	return put(tx, tableVoterRules, old, &rules)
}

// mayPromote is the rule for an author who is not a federation admin: a
// node promotes a standby in place of a voter, within the rules, and not
// twice within their interval.
func mayPromote(tx *writeTxn, p principal, pr Promotion) error {
	if p.Kind != KindNode {
		return forbiddenf("%s may not promote a node: that is the federation admin's", p)
	}
	rules := get[VoterRules](tx.Txn, tableVoterRules, voterRulesID)
	switch {
	case rules == nil:
		return forbiddenf("%s may not promote a node: the federation has set no voters and standby", p)
	case pr.Replaces == "" || !slices.Contains(rules.Voters, pr.Replaces):
		return forbiddenf("%s may promote a node only in place of a voter of the rules", p)
	case !slices.Contains(rules.Standby, pr.Node):
		return forbiddenf("%s may not promote node %s: it is not a standby of the rules", p, pr.Node)
	case rules.LastPromotion != 0 && pr.Now-rules.LastPromotion < int64(rules.PromoteAfterSeconds):
		return forbiddenf("%s may not promote a node within %d s of the last promotion", p, rules.PromoteAfterSeconds)
	}
	return nil
}

// dropFromVoterRules takes a removed node out of the rules.
func dropFromVoterRules(tx *writeTxn, node string) error {
	old := get[VoterRules](tx.Txn, tableVoterRules, voterRulesID)
	if old == nil || !slices.Contains(old.Voters, node) && !slices.Contains(old.Standby, node) {
		return nil
	}
	rules := *old
	rules.Voters = slices.DeleteFunc(slices.Clone(rules.Voters), func(id string) bool { return id == node })
	rules.Standby = slices.DeleteFunc(slices.Clone(rules.Standby), func(id string) bool { return id == node })
	return put(tx, tableVoterRules, old, &rules)
}

// VoterRules are the federation's voters and standby, or nil when it has
// set none (then join tokens alone decide, and nothing is promoted
// automatically).
func (r *Registry) VoterRules() *VoterRules {
	return get[VoterRules](r.db.Txn(false), tableVoterRules, voterRulesID)
}

func voterRulesTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableVoterRules, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}}
}
