package registry

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/mcfed/mcfed/internal/e164"
)

// The authorization policy. Every authored command is judged here, in the
// FSM, by a deterministic function of its author, its body and the
// registry's state, so that every replica agrees on each decision:
//
//   - a federation admin may make any command but the spending of a join
//     token, which only a leader admitting a node makes;
//   - an operator admin of X may write X's record (not its status: the
//     federation suspends and reinstates), the number ranges and IP ranges
//     X holds or that nobody holds, and X's SP policies; nothing else. Its
//     put of a range another operator holds, or of one inside another's,
//     is a claim: refused as a conflict and recorded as a dispute that the
//     federation admin settles (disputes.go);
//   - the porting authority ports numbers, and nothing else;
//   - port requests are filed and withdrawn by the recipient's admin,
//     accepted or declined by the donor's, cancelled by the federation
//     admin, and their deadline applied by a node (portrequests.go);
//   - a node writes its own record, replaces its own credentials'
//     verifiers, and has the rights of an operator admin of the operator
//     its credential names; a leader's node spends join tokens and prunes
//     the expired ones.
//
// A refusal is CodeForbidden; the command changes nothing, and the audit
// log records it.

// principal is a command's author as the registry knows it.
type principal struct {
	Author
	// registered is false for a credential the registry does not hold:
	// only the bootstrap of an empty credentials table accepts one.
	registered bool
	revoked    bool
}

// resolve finds the author's credential: what the registry says of it
// counts, not what the header claims.
func resolve(tx *writeTxn, a Author) principal {
	c := get[Credential](tx.Txn, tableCredentials, a.Credential)
	if c == nil {
		return principal{Author: a}
	}
	return principal{Author: AuthorOf(c), registered: true, revoked: c.Revoked}
}

func (p principal) federation() bool { return p.Kind == KindAdmin && p.Role == RoleFederationAdmin }

func (p principal) porting() bool { return p.Kind == KindAdmin && p.Role == RolePortingAuthority }

// actsFor is the operator whose admin rights p has, or "".
func (p principal) actsFor() string {
	if p.Kind == KindNode || p.Kind == KindAdmin && p.Role == RoleOperatorAdmin {
		return p.Operator
	}
	return ""
}

func (p principal) String() string {
	if p.Kind == KindNode {
		return "node " + p.Node
	}
	if p.Role == RoleOperatorAdmin {
		return "credential " + p.Credential + " (operator-admin of " + p.Operator + ")"
	}
	return "credential " + p.Credential + " (" + string(p.Role) + ")"
}

// subject is what a command touches, as the audit log records it.
type subject struct {
	command   string
	keys      []string
	keyCount  int
	operators []string
	// table and key name the one row the command writes, for its digests
	// (table "" when it writes several, or rows outside memdb).
	table, key string
	// licensed: a federation admin's act that only its role permits
	// (judge sets it).
	licensed bool
}

func (s *subject) addKey(k string) {
	s.keyCount++
	if len(s.keys) < maxAuditKeys {
		s.keys = append(s.keys, k)
	}
}

func (s *subject) concerns(ids ...string) {
	for _, id := range ids {
		if id != "" && id != AllOperators && !slices.Contains(s.operators, id) {
			s.operators = append(s.operators, id)
		}
	}
}

func single(command, table, key string, operators ...string) subject {
	s := subject{command: command, table: table, key: key}
	s.addKey(key)
	s.concerns(operators...)
	return s
}

// judge says what an authored command touches and whether p may make it.
// A body that does not decode is an *UninterpretableError, as in Apply.
func judge(tx *writeTxn, p principal, typ CommandType, body []byte) (subject, error) {
	s, rule, err := describe(tx, p, typ, body)
	if err != nil {
		return s, err
	}
	switch {
	case p.revoked:
		return s, forbiddenf("credential %s is revoked", p.Credential)
	case !p.registered && typ != CmdPutCredentials:
		return s, forbiddenf("credential %s is not registered", p.Credential)
	case p.registered && p.federation() && typ != CmdUseJoinToken && !portDecision(typ) && typ != CmdDecideProposal:
		// Where the rule alone would refuse, the role's licence is what
		// lets it: a federation-admin act, which may need approvals
		// (approvals.go).
		s.licensed = rule() != nil
		return s, nil
	}
	return s, rule()
}

// describe decodes a command into its subject and the rule that decides
// for an author who is not a federation admin.
func describe(tx *writeTxn, p principal, typ CommandType, body []byte) (subject, func() error, error) {
	federationOnly := func(what string) func() error {
		return func() error { return forbiddenf("%s may not %s: that is the federation admin's", p, what) }
	}
	switch typ {
	case CmdPutOperator, CmdUpdateOperator:
		var o Operator
		name := "put_operator"
		if typ == CmdUpdateOperator {
			var u OperatorUpdate
			if err := decodeJSON(body, &u); err != nil {
				return subject{}, nil, err
			}
			o, name = u.Operator, "update_operator"
		} else if err := decodeJSON(body, &o); err != nil {
			return subject{}, nil, err
		}
		return single(name, tableOperators, o.ID, o.ID), func() error { return mayWriteOperator(tx, p, &o) }, nil
	case CmdDeleteOperator, CmdRemoveOperator:
		var k Key
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		name := map[CommandType]string{CmdDeleteOperator: "delete_operator", CmdRemoveOperator: "remove_operator"}[typ]
		return single(name, tableOperators, k.Key, k.Key), federationOnly("remove an operator"), nil
	case CmdPutRanges:
		return describeRanges(tx, p, body)
	case CmdDeleteRanges:
		var k Keys
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		s := subject{command: "delete_ranges"}
		var holders []string
		for _, key := range k.Keys {
			s.addKey(key)
			holder, _ := rangeHolders(tx, key)
			s.concerns(holder)
			holders = append(holders, holder)
		}
		return s, func() error {
			for i, h := range holders {
				if h != "" && h != p.actsFor() {
					return forbiddenf("%s may not delete range %s: it is operator %s's", p, k.Keys[i], h)
				}
			}
			return nil
		}, nil
	case CmdPortNumbers:
		s, err := describePorts(tx, body)
		return s, func() error {
			if p.porting() {
				return nil
			}
			return forbiddenf("%s may not port numbers: a number moves between operators by port request or through the porting authority", p)
		}, err
	case CmdPutIPRange, CmdDeleteIPRange:
		return describeIPRange(tx, p, typ, body)
	case CmdPutSP:
		var sp ServiceProvider
		if err := decodeJSON(body, &sp); err != nil {
			return subject{}, nil, err
		}
		return single("put_sp", tableSPs, sp.ClientID, sp.Operators...), federationOnly("register or change a service provider"), nil
	case CmdDeleteSP:
		var k Key
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		return single("delete_sp", tableSPs, k.Key), federationOnly("delete a service provider"), nil
	case CmdPutScope, CmdDeleteScope, CmdPutProduct, CmdDeleteProduct, CmdPutDeveloper, CmdDeleteDeveloper, CmdPutAPI, CmdDeleteAPI:
		return describeCatalogue(typ, body, federationOnly("change the catalogue"))
	case CmdPutNode:
		var n Node
		if err := decodeJSON(body, &n); err != nil {
			return subject{}, nil, err
		}
		s := single("put_node", tableNodes, n.ID, n.Operator)
		if old := get[Node](tx.Txn, tableNodes, n.ID); old != nil {
			s.concerns(old.Operator)
		}
		return s, func() error {
			if p.Kind != KindNode || p.Node != n.ID {
				return forbiddenf("%s may not write node %s's record: a node writes its own", p, n.ID)
			}
			if n.Operator != "" && n.Operator != p.Operator {
				return forbiddenf("node %s serves operator %q, not %s", n.ID, p.Operator, n.Operator)
			}
			return nil
		}, nil
	case CmdDeleteNode:
		var k Key
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		// The node's operator is concerned: its admin reads, among its
		// audit entries, who tried to remove its node.
		s := single("delete_node", tableNodes, k.Key)
		if old := get[Node](tx.Txn, tableNodes, k.Key); old != nil {
			s.concerns(old.Operator)
		}
		return s, federationOnly("remove a node"), nil
	case CmdPutJoinToken:
		var t JoinToken
		if err := decodeJSON(body, &t); err != nil {
			return subject{}, nil, err
		}
		s := subject{command: "put_join_token"}
		s.addKey(t.Node)
		s.concerns(t.Operator)
		return s, federationOnly("issue join tokens"), nil
	case CmdUseJoinToken:
		var u UseJoinToken
		if err := decodeJSON(body, &u); err != nil {
			return subject{}, nil, err
		}
		s := single("use_join_token", tableNodes, u.Node, u.Operator)
		return s, func() error {
			if p.Kind != KindNode {
				return forbiddenf("%s may not spend a join token: the leader does when it admits a node", p)
			}
			return nil
		}, nil
	case CmdPruneJoinTokens:
		var pr PruneJoinTokens
		if err := decodeJSON(body, &pr); err != nil {
			return subject{}, nil, err
		}
		return subject{command: "prune_join_tokens"}, func() error {
			if p.Kind != KindNode {
				return forbiddenf("%s may not prune join tokens: the leader does", p)
			}
			return nil
		}, nil
	case CmdPutSPPolicy, CmdDeleteSPPolicy:
		var k PolicyKey
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		name := map[CommandType]string{CmdPutSPPolicy: "put_sp_policy", CmdDeleteSPPolicy: "delete_sp_policy"}[typ]
		return single(name, tableSPPolicies, policyKey(k.Operator, k.ClientID), k.Operator), func() error {
			if k.Operator != p.actsFor() {
				return forbiddenf("%s may not decide for operator %s about SP %s", p, k.Operator, k.ClientID)
			}
			return nil
		}, nil
	case CmdPutCredentials:
		return describeCredentials(tx, p, body)
	case CmdRevokeCredential:
		var k Key
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		s := single("revoke_credential", tableCredentials, k.Key)
		if c := get[Credential](tx.Txn, tableCredentials, k.Key); c != nil {
			s.concerns(c.Operator)
		}
		return s, federationOnly("revoke credentials"), nil
	case CmdFilePortRequest, CmdDecidePortRequest, CmdPutPortingRules:
		return describePortRequest(tx, p, typ, body)
	case CmdSettleDispute:
		return describeSettlement(tx, p, body)
	case CmdPutApprovalRules:
		var rules ApprovalRules
		err := decodeJSON(body, &rules)
		return single("put_approval_rules", tableApprovalRules, approvalRulesID), federationOnly("set the approvals federation-admin acts need"), err
	case CmdDecideProposal:
		return describeDecision(tx, p, body)
	case CmdPutAuditRules:
		var rules AuditRules
		err := decodeJSON(body, &rules)
		return single("put_audit_rules", tableAuditRules, auditRulesID), federationOnly("set how long the audit log keeps its entries"), err
	case CmdPutVoterRules:
		var rules VoterRules
		err := decodeJSON(body, &rules)
		return single("put_voter_rules", tableVoterRules, voterRulesID), federationOnly("name the federation's voters"), err
	case CmdPromoteNode:
		var pr Promotion
		if err := decodeJSON(body, &pr); err != nil {
			return subject{}, nil, err
		}
		s := single("promote_node", tableVoterRules, voterRulesID)
		s.keys, s.keyCount = nil, 0
		s.addKey(pr.Node)
		if pr.Replaces != "" {
			s.addKey(pr.Replaces)
		}
		for _, id := range []string{pr.Node, pr.Replaces} {
			if n := get[Node](tx.Txn, tableNodes, id); n != nil {
				s.concerns(n.Operator)
			}
		}
		return s, func() error { return mayPromote(tx, p, pr) }, nil
	case CmdCreate:
		if len(body) < 2 {
			return subject{}, nil, uninterpretable("create: no inner command")
		}
		inner := CommandType(body[0]) &^ SkipIfUnknown
		s, rule, err := describe(tx, p, inner, body[2:])
		s.command = "create_" + trimPut(s.command)
		return s, rule, err
	}
	return subject{}, nil, uninterpretable("command type %d has no authorization rule", typ)
}

// portDecision: the commands on port requests, which the federation admin
// may make only where their rule says (portrequests.go): a number moves
// by its donor's decision, not the consortium's.
func portDecision(typ CommandType) bool {
	return typ == CmdFilePortRequest || typ == CmdDecidePortRequest
}

func trimPut(name string) string {
	if len(name) > 4 && name[:4] == "put_" {
		return name[4:]
	}
	return name
}

// mayWriteOperator: an operator admin writes its own record, but its
// status stays what the federation set (a new record is active).
func mayWriteOperator(tx *writeTxn, p principal, o *Operator) error {
	if o.ID != p.actsFor() {
		return forbiddenf("%s may not write operator %s's record", p, o.ID)
	}
	want := StatusActive
	if existing := get[Operator](tx.Txn, tableOperators, o.ID); existing != nil {
		want = existing.Status
	}
	if o.Status != want {
		return forbiddenf("%s may not set operator %s's status to %q: suspension is the federation admin's", p, o.ID, o.Status)
	}
	return nil
}

func describeRanges(tx *writeTxn, p principal, body []byte) (subject, func() error, error) {
	var b RangeBatch
	if err := decodeJSON(body, &b); err != nil {
		return subject{}, nil, err
	}
	s := subject{command: "put_ranges"}
	type put struct {
		rg                          Range
		holder, around, aroundRange string
	}
	puts := make([]put, 0, len(b.Ranges))
	for _, rg := range b.Ranges {
		s.addKey(rg.Prefix)
		holder, around, aroundRange := rangeHoldersAt(tx, rg.Prefix)
		s.concerns(rg.Operator, holder, around)
		puts = append(puts, put{rg, holder, around, aroundRange})
	}
	return s, func() error {
		x := p.actsFor()
		var claims []claim
		for _, c := range puts {
			switch {
			case c.rg.Operator != x:
				return forbiddenf("%s may not give range %s to operator %s", p, c.rg.Prefix, c.rg.Operator)
			case x == "" && (c.holder != "" || c.around != ""):
				// No operator to claim for: not a dispute.
				return forbiddenf("%s may not take range %s: it is operator %s's", p, c.rg.Prefix, cmp.Or(c.holder, c.around))
			case c.holder != "" && c.holder != x:
				claims = append(claims, claim{DisputeRange, canonicalPrefix(c.rg.Prefix), x, c.holder, canonicalPrefix(c.rg.Prefix)})
			case c.around != "" && c.around != x:
				claims = append(claims, claim{DisputeRange, canonicalPrefix(c.rg.Prefix), x, c.around, c.aroundRange})
			}
		}
		if len(claims) > 0 {
			return refuseClaims(tx, p, claims)
		}
		return nil
	}, nil
}

// canonicalPrefix is a valid prefix as the registry writes it.
func canonicalPrefix(s string) string {
	v, _, err := e164.ParsePrefix(s)
	if err != nil {
		return s
	}
	return e164.Format(v)
}

// rangeHolders returns the operator holding exactly prefix, and the one
// holding the longest shorter prefix of it (whose numbers a range at
// prefix would take by the longest match); "" for none or a bad prefix.
func rangeHolders(tx *writeTxn, prefixStr string) (exact, around string) {
	exact, around, _ = rangeHoldersAt(tx, prefixStr)
	return exact, around
}

// rangeHoldersAt is rangeHolders, with the prefix the one around holds.
func rangeHoldersAt(tx *writeTxn, prefixStr string) (exact, around, aroundPrefix string) {
	v, d, err := e164.ParsePrefix(prefixStr)
	if err != nil {
		return "", "", ""
	}
	idx := tx.r.ranges
	// Only the FSM writes the index, so reading it here needs no lock.
	if s, ok := idx.byLen[d][v]; ok {
		exact = tx.r.operatorBySlot(s).ID
	}
	for l := d - 1; l > 0; l-- {
		if s, ok := idx.byLen[l][v/pow10[d-l]]; ok {
			around, aroundPrefix = tx.r.operatorBySlot(s).ID, e164.Format(v/pow10[d-l])
			break
		}
	}
	return exact, around, aroundPrefix
}

// describePorts reads a port batch's operators and numbers, and finds
// whom each number is taken from: the donors are concerned too.
func describePorts(tx *writeTxn, body []byte) (subject, error) {
	s := subject{command: "port_numbers"}
	nOps, n := binary.Uvarint(body)
	if n <= 0 || nOps > unport {
		return s, uninterpretable("port batch: bad operator count")
	}
	body = body[n:]
	for range nOps {
		l, n := binary.Uvarint(body)
		if n <= 0 || uint64(len(body)-n) < l {
			return s, uninterpretable("port batch: truncated operator list")
		}
		s.concerns(string(body[n : n+int(l)]))
		body = body[n+int(l):]
	}
	nRows, n := binary.Uvarint(body)
	if n <= 0 || uint64(len(body)-n) != nRows*10 {
		return s, uninterpretable("port batch: row count does not match its body")
	}
	body = body[n:]
	var last Slot
	for i := range nRows {
		num := binary.LittleEndian.Uint64(body[i*10:])
		if i < maxAuditKeys {
			s.addKey(e164.Format(num))
		}
		if res, ok := tx.r.Resolve(num); ok && res.Operator.Slot != last {
			last = res.Operator.Slot
			s.concerns(res.Operator.ID)
		}
	}
	s.keyCount = int(nRows)
	return s, nil
}

func describeIPRange(tx *writeTxn, p principal, typ CommandType, body []byte) (subject, func() error, error) {
	var rg IPRange
	name := "put_ip_range"
	if typ == CmdDeleteIPRange {
		var k Key
		if err := decodeJSON(body, &k); err != nil {
			return subject{}, nil, err
		}
		rg.CIDR, name = k.Key, "delete_ip_range"
	} else if err := decodeJSON(body, &rg); err != nil {
		return subject{}, nil, err
	}
	pfx, err := parseCIDR(rg.CIDR)
	if err != nil {
		// The apply refuses it as invalid; no operator's range is at stake.
		return subject{command: name}, func() error { return nil }, nil
	}
	key := pfx.String()
	var holder string
	if cur := get[IPRange](tx.Txn, tableIPRanges, key); cur != nil {
		holder = cur.Operator
	}
	around, aroundRange := ipHolderAround(tx, pfx)
	s := single(name, tableIPRanges, key, rg.Operator, holder)
	if typ == CmdPutIPRange {
		s.concerns(around)
	}
	return s, func() error {
		x := p.actsFor()
		switch {
		case typ == CmdPutIPRange && rg.Operator != x:
			return forbiddenf("%s may not give IP range %s to operator %s", p, key, rg.Operator)
		case typ == CmdPutIPRange && x == "" && (holder != "" || around != ""):
			// No operator to claim for: not a dispute.
			return forbiddenf("%s may not take IP range %s: it is operator %s's", p, key, cmp.Or(holder, around))
		case typ == CmdPutIPRange && holder != "" && holder != x:
			return refuseClaims(tx, p, []claim{{DisputeIPRange, key, x, holder, key}})
		case holder != "" && holder != x:
			return forbiddenf("%s may not change IP range %s: it is operator %s's", p, key, holder)
		case typ == CmdPutIPRange && around != "" && around != x:
			return refuseClaims(tx, p, []claim{{DisputeIPRange, key, x, around, aroundRange.String()}})
		}
		return nil
	}, nil
}

// ipHolderAround returns the operator holding the longest IP range that
// strictly contains p, and that range; "" when none does.
func ipHolderAround(tx *writeTxn, p netip.Prefix) (string, netip.Prefix) {
	x := tx.r.ips
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, b := range x.bits { // longest first
		if b >= p.Bits() {
			continue
		}
		outer, err := p.Addr().Prefix(b)
		if err != nil {
			continue
		}
		if s, ok := x.byBits[b][outer]; ok {
			return tx.r.operatorBySlot(s).ID, outer
		}
	}
	return "", netip.Prefix{}
}

// describeCatalogue decodes each command into its own type, as its apply
// does, so that a body is interpretable here exactly when it is there.
func describeCatalogue(typ CommandType, body []byte, rule func() error) (subject, func() error, error) {
	switch typ {
	case CmdPutScope:
		var sc Scope
		err := decodeJSON(body, &sc)
		return single("put_scope", tableScopes, sc.Name), rule, err
	case CmdPutProduct:
		var pr Product
		err := decodeJSON(body, &pr)
		return single("put_product", tableProducts, pr.ID), rule, err
	case CmdPutDeveloper:
		var d Developer
		err := decodeJSON(body, &d)
		return single("put_developer", tableDevelopers, d.ID), rule, err
	case CmdPutAPI:
		var a API
		err := decodeJSON(body, &a)
		return single("put_api", tableAPIs, a.ID), rule, err
	}
	var k Key
	err := decodeJSON(body, &k)
	switch typ {
	case CmdDeleteScope:
		return single("delete_scope", tableScopes, k.Key), rule, err
	case CmdDeleteDeveloper:
		return single("delete_developer", tableDevelopers, k.Key), rule, err
	case CmdDeleteAPI:
		return single("delete_api", tableAPIs, k.Key), rule, err
	}
	return single("delete_product", tableProducts, k.Key), rule, err
}

// describeCredentials: the federation admin issues any credential; a node
// replaces the verifiers of its own two (nothing else of them); and the
// first node of a federation, while no credential exists, registers its
// own.
func describeCredentials(tx *writeTxn, p principal, body []byte) (subject, func() error, error) {
	var b CredentialBatch
	if err := decodeJSON(body, &b); err != nil {
		return subject{}, nil, err
	}
	s := subject{command: "put_credentials"}
	for _, c := range b.Credentials {
		s.addKey(c.ID)
		s.concerns(c.Operator)
	}
	if len(b.Credentials) == 1 {
		s.table, s.key = tableCredentials, b.Credentials[0].ID
	}
	return s, func() error {
		if !p.registered {
			return bootstrapCredentials(tx, p, b)
		}
		if p.Kind != KindNode {
			return forbiddenf("%s may not write credentials: the federation admin issues them", p)
		}
		for _, c := range b.Credentials {
			old := get[Credential](tx.Txn, tableCredentials, c.ID)
			own := c.ID == NodeCredentialID(p.Node) || c.ID == AdminCredentialID(p.Node)
			if !own || old == nil {
				return forbiddenf("%s may not write credential %s: a node replaces only its own credentials' verifiers", p, c.ID)
			}
			if c.Kind != old.Kind || c.Role != old.Role || c.Operator != old.Operator || c.Node != old.Node || c.Certificate != old.Certificate || c.Revoked || old.Revoked {
				return forbiddenf("%s may change only the verifier of credential %s", p, c.ID)
			}
		}
		return nil
	}, nil
}

// bootstrapCredentials lets the first node of a federation register its
// own credentials, while the registry holds none: its node credential and
// the admin token it was started with.
func bootstrapCredentials(tx *writeTxn, p principal, b CredentialBatch) error {
	if first, _ := tx.First(tableCredentials, "id"); first != nil {
		return forbiddenf("credential %s is not registered", p.Credential)
	}
	self := false
	for _, c := range b.Credentials {
		if c.Node != p.Node || p.Kind != KindNode {
			return forbiddenf("the first node registers only its own credentials")
		}
		self = self || c.ID == p.Credential && c.Kind == KindNode
	}
	if !self {
		return forbiddenf("the first node registers its own node credential first")
	}
	return nil
}
