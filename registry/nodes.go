package registry

import "github.com/hashicorp/go-memdb"

// Node is one mcfed server of the federation, as its peers reach it. The
// Raft configuration knows only raft addresses; the registry adds the admin
// URL, so a follower can forward writes to the leader's admin API.
type Node struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	AdminURL string `json:"admin_url"`
	// Operator is the member the node serves, once it has registered one.
	Operator string `json:"operator,omitempty"`

	// SealKeys are the node's X25519 keys for the symmetric subscriber_id
	// form (issue 15, sealkeys.go): discovery on this node seals with the
	// first; gateways find them by id.
	SealKeys []SealKey `json:"seal_keys,omitempty"`

	Meta
}

// JoinToken admits one node, named when the token is issued, with the
// role its admin token will hold. The registry stores only its hash; the
// token itself is shown once to the admin who asked for it.
type JoinToken struct {
	Hash string `json:"hash"` // HashSecret of the token
	// ExpiresAt is in Unix seconds, stamped by the node that created it.
	ExpiresAt int64 `json:"expires_at"`
	// Node is the id of the one node the token admits.
	Node string `json:"node"`
	// Operator is the operator the node serves: its node credential acts
	// for it, and its admin token is operator admin of it.
	Operator string `json:"operator,omitempty"`
	// FederationAdmin makes the node's admin token a federation admin (a
	// node of the consortium, serving no operator). With neither, the
	// admin token holds no role.
	FederationAdmin bool `json:"federation_admin,omitempty"`
	// NonVoter admits the node as a non-voting member: it replicates the
	// registry and serves from it, and forwards writes, but never votes
	// nor leads, so it can never author an entry (see DESIGN.md, Raft's
	// trust model). The default is a voter.
	NonVoter bool `json:"non_voter,omitempty"`
	// AdditionalGateway admits the node as a further gateway node of
	// Operator when the operator has one already: several nodes behind one
	// issuer, sharing the operator's state store and key-encryption key.
	// Without it a second node for an operator is refused, so that a token
	// meant for one node cannot add another that would act for the
	// operator unnoticed.
	AdditionalGateway bool   `json:"additional_gateway,omitempty"`
	UsedBy            string `json:"used_by,omitempty"`
	Meta
}

// UseJoinToken is the body of CmdUseJoinToken: Now is the leader's clock when
// it admitted the node, fixed before the command entered the log. With the
// token spent, the node's record and credentials are written: the token is
// the authority for them, and for the role they hold.
type UseJoinToken struct {
	Hash string `json:"hash"`
	Node string `json:"node"`
	Now  int64  `json:"now"`
	// Record is the node as its peers reach it.
	Record *Node `json:"record,omitempty"`
	// NodeVerifier is HashSecret of the secret the node made for itself;
	// AdminVerifier the slow verifier of the --admin-token it was started
	// with, registered with the role the token grants. Operator is the
	// operator the node says it serves: it must be the token's.
	NodeVerifier  string `json:"node_verifier,omitempty"`
	AdminVerifier string `json:"admin_verifier,omitempty"`
	Operator      string `json:"operator,omitempty"`
	// Certificate is CertificateFingerprint of the TLS client certificate
	// the node joined with ("" without TLS): the node's internal calls
	// must present that certificate from then on.
	Certificate string `json:"certificate,omitempty"`
}

// PruneJoinTokens is the body of CmdPruneJoinTokens: the leader's clock,
// before which every join token, spent or not, has expired.
type PruneJoinTokens struct {
	Now int64 `json:"now"`
}

func applyPutNode(tx *writeTxn, body []byte) error {
	var n Node
	if err := decodeJSON(body, &n); err != nil {
		return err
	}
	return putNode(tx, &n, get[Node](tx.Txn, tableNodes, n.ID))
}

func putNode(tx *writeTxn, n, existing *Node) error {
	if err := checkID("node id", n.ID); err != nil {
		return err
	}
	if n.RaftAddr == "" {
		return invalidf("node %s has no raft address", n.ID)
	}
	if err := checkURL("admin_url", n.AdminURL); err != nil {
		return err
	}
	if n.Operator != "" && get[Operator](tx.Txn, tableOperators, n.Operator) == nil {
		return notFoundf("operator %q does not exist", n.Operator)
	}
	if err := checkSealKeys("seal_keys", n.SealKeys); err != nil {
		return err
	}
	tx.nodesChanged()
	return put(tx, tableNodes, existing, n)
}

// applyDeleteNode removes a node's record and revokes its node credential:
// a node that left writes nothing more (a join token admits it again).
func applyDeleteNode(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	n := get[Node](tx.Txn, tableNodes, k.Key)
	if n == nil {
		return notFoundf("node %q does not exist", k.Key)
	}
	if err := tx.Delete(tableNodes, n); err != nil {
		return err
	}
	tx.nodesChanged()
	if err := dropFromVoterRules(tx, n.ID); err != nil {
		return err
	}
	return revokeNodeCredential(tx, n.ID)
}

func revokeNodeCredential(tx *writeTxn, node string) error {
	c := get[Credential](tx.Txn, tableCredentials, NodeCredentialID(node))
	if c == nil || c.Revoked {
		return nil
	}
	revoked := *c
	revoked.Revoked = true
	return put(tx, tableCredentials, c, &revoked)
}

func applyPutJoinToken(tx *writeTxn, body []byte) error {
	var t JoinToken
	if err := decodeJSON(body, &t); err != nil {
		return err
	}
	if !secretHashPattern.MatchString(t.Hash) {
		return invalidf("join token hash must be sha256:<64 hex digits>")
	}
	if err := checkID("node_id", t.Node); err != nil {
		return err
	}
	if t.Operator != "" {
		if err := checkID("operator", t.Operator); err != nil {
			return err
		}
		if t.FederationAdmin {
			return invalidf("a join token grants operator or federation_admin, not both")
		}
	}
	if get[Node](tx.Txn, tableNodes, t.Node) != nil {
		return conflictf("node %s is a member: remove it (DELETE /v1/cluster/nodes/%s) before admitting it again", t.Node, t.Node)
	}
	if old := get[JoinToken](tx.Txn, tableJoinTokens, t.Hash); old != nil {
		// The same command again (a write retried after its answer was
		// lost): 256 random bits are not issued twice otherwise.
		if old.UsedBy == "" && old.Node == t.Node && old.ExpiresAt == t.ExpiresAt && old.Operator == t.Operator && old.FederationAdmin == t.FederationAdmin {
			return nil
		}
		return conflictf("join token already exists")
	}
	t.UsedBy = ""
	return put(tx, tableJoinTokens, nil, &t)
}

// applyUseJoinToken spends a join token: it must exist, be unused, name
// this node and not have expired at the leader's time; the node must not
// be a member (a join never changes one).
func applyUseJoinToken(tx *writeTxn, body []byte) error {
	var u UseJoinToken
	if err := decodeJSON(body, &u); err != nil {
		return err
	}
	t := get[JoinToken](tx.Txn, tableJoinTokens, u.Hash)
	if err := CheckJoinToken(t, u.Node, u.Now); err != nil {
		return err
	}
	if err := checkNewMember(tx, u.Node, u.Record); err != nil {
		return err
	}
	if u.Operator != t.Operator {
		return forbiddenf("the join token admits node %s for operator %q; the node says it serves %q", u.Node, t.Operator, u.Operator)
	}
	used := *t
	used.UsedBy = u.Node
	if err := put(tx, tableJoinTokens, t, &used); err != nil {
		return err
	}
	return admitNode(tx, t, &u)
}

// CheckJoinToken says why t (nil: unknown) cannot admit node at now, the
// leader's clock in Unix seconds, or nil. Every refusal is CodeForbidden.
func CheckJoinToken(t *JoinToken, node string, now int64) error {
	switch {
	case t == nil:
		return forbiddenf("the join token is not valid")
	case t.UsedBy != "":
		return forbiddenf("the join token was already used (by node %s): a join token admits once; issue a new one", t.UsedBy)
	case t.Node != node:
		return forbiddenf("the join token was issued for another node, not %s", node)
	case now >= t.ExpiresAt:
		return forbiddenf("the join token has expired")
	}
	return nil
}

// checkNewMember refuses a join naming a member, or a raft address a
// member has: a join never replaces or moves one.
func checkNewMember(tx *writeTxn, node string, rec *Node) error {
	if get[Node](tx.Txn, tableNodes, node) != nil {
		return conflictf("node %s is already a member: a join never changes a member (to admit it again, remove it first)", node)
	}
	if c := get[Credential](tx.Txn, tableCredentials, NodeCredentialID(node)); c != nil && !c.Revoked {
		return conflictf("node %s already holds a node credential", node)
	}
	if rec == nil {
		return nil
	}
	it, err := tx.Get(tableNodes, "id")
	if err != nil {
		return err
	}
	for o := it.Next(); o != nil; o = it.Next() {
		if m := o.(*Node); m.RaftAddr == rec.RaftAddr {
			return conflictf("raft address %s is member %s's", rec.RaftAddr, m.ID)
		}
	}
	return nil
}

// applyPruneJoinTokens removes the join tokens expired at the leader's
// time: spent or not, they admit nobody any more.
func applyPruneJoinTokens(tx *writeTxn, body []byte) error {
	var p PruneJoinTokens
	if err := decodeJSON(body, &p); err != nil {
		return err
	}
	for _, t := range expiredJoinTokens(tx.Txn, p.Now) {
		if err := tx.Delete(tableJoinTokens, t); err != nil {
			return err
		}
	}
	return nil
}

func expiredJoinTokens(txn *memdb.Txn, now int64) []*JoinToken {
	it, err := txn.Get(tableJoinTokens, "id")
	if err != nil {
		return nil
	}
	var out []*JoinToken
	for o := it.Next(); o != nil; o = it.Next() {
		if t := o.(*JoinToken); now >= t.ExpiresAt {
			out = append(out, t)
		}
	}
	return out
}

// admitNode writes what a join brings: the node's record and its
// credentials, with the operator and role the token t grants (not what the
// node asks for).
func admitNode(tx *writeTxn, t *JoinToken, u *UseJoinToken) error {
	if t.Operator != "" && !t.AdditionalGateway {
		it, err := tx.Get(tableCredentials, "operator", t.Operator)
		if err != nil {
			return err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			c := o.(*Credential)
			if c.Kind == KindNode && c.Node != u.Node && !c.Revoked && get[Node](tx.Txn, tableNodes, c.Node) != nil {
				return conflictf("operator %s is served by node %s", t.Operator, c.Node)
			}
		}
	}
	if u.Record != nil {
		rec := *u.Record
		if rec.ID != u.Node {
			return invalidf("the record of a joining node is its own")
		}
		rec.Operator = ""
		if err := putNode(tx, &rec, nil); err != nil {
			return err
		}
	}
	if u.NodeVerifier != "" {
		if u.Certificate != "" && !secretHashPattern.MatchString(u.Certificate) {
			return invalidf("certificate must be sha256:<64 hex digits>")
		}
		c := Credential{ID: NodeCredentialID(u.Node), Kind: KindNode, Node: u.Node, Operator: t.Operator,
			Verifier: u.NodeVerifier, Certificate: u.Certificate}
		if err := putAdmittedCredential(tx, &c); err != nil {
			return err
		}
	}
	role := RoleOperatorAdmin
	if t.FederationAdmin {
		role = RoleFederationAdmin
	}
	if u.AdminVerifier != "" && (t.Operator != "" || t.FederationAdmin) {
		c := Credential{ID: AdminCredentialID(u.Node), Kind: KindAdmin, Role: role,
			Operator: t.Operator, Node: u.Node, Verifier: u.AdminVerifier}
		if err := putAdmittedCredential(tx, &c); err != nil {
			return err
		}
	}
	return nil
}

// putAdmittedCredential writes a credential of a node the token admits,
// with the role the token grants. A node credential revoked when the node
// was removed is replaced (the new token admits the node again); a revoked
// admin token stays revoked.
func putAdmittedCredential(tx *writeTxn, c *Credential) error {
	old := get[Credential](tx.Txn, tableCredentials, c.ID)
	if old != nil && old.Revoked && c.Kind != KindNode {
		return conflictf("credential %s is revoked", c.ID)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := put(tx, tableCredentials, old, c); err != nil {
		return err
	}
	return keepsApprovers(tx) // a new role for a federation admin's token (approvals.go)
}

// Node returns the node with id, or nil.
func (r *Registry) Node(id string) *Node { return get[Node](r.db.Txn(false), tableNodes, id) }

// Nodes lists the federation's nodes a page at a time.
func (r *Registry) Nodes(after string, limit int) Page[Node] {
	return list(r.db, tableNodes, func(n *Node) string { return n.ID }, after, limit, nil)
}

// JoinToken returns the join token with this hash, or nil.
func (r *Registry) JoinToken(hash string) *JoinToken {
	return get[JoinToken](r.db.Txn(false), tableJoinTokens, hash)
}

// ExpiredJoinTokens counts the join tokens expired at now (Unix seconds):
// what CmdPruneJoinTokens with that time would remove.
func (r *Registry) ExpiredJoinTokens(now int64) int {
	return len(expiredJoinTokens(r.db.Txn(false), now))
}
