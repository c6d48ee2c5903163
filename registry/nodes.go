package registry

// Node is one mcfed server of the federation, as its peers reach it. The
// Raft configuration knows only raft addresses; the registry adds the admin
// URL, so a follower can forward writes to the leader's admin API.
type Node struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	AdminURL string `json:"admin_url"`
	// Operator is the member the node serves, once it has registered one.
	Operator string `json:"operator,omitempty"`
	Meta
}

// JoinToken admits one new node. The registry stores only its hash; the
// token itself is shown once to the admin who asked for it.
type JoinToken struct {
	Hash string `json:"hash"` // HashSecret of the token
	// ExpiresAt is in Unix seconds, stamped by the node that created it.
	ExpiresAt int64  `json:"expires_at"`
	UsedBy    string `json:"used_by,omitempty"`
	Meta
}

// UseJoinToken is the body of CmdUseJoinToken: Now is the leader's clock when
// it admitted the node, fixed before the command entered the log. With the
// token spent, the node's record and credentials are written: the token is
// the authority for them (a leader of an older build sent none).
type UseJoinToken struct {
	Hash string `json:"hash"`
	Node string `json:"node"`
	Now  int64  `json:"now"`
	// Record is the node as its peers reach it.
	Record *Node `json:"record,omitempty"`
	// NodeVerifier is HashSecret of the secret the node made for itself;
	// AdminVerifier the slow verifier of the --admin-token it was started
	// with, registered as operator admin of Operator (the operator it
	// states it serves: join tokens do not carry roles yet).
	NodeVerifier  string `json:"node_verifier,omitempty"`
	AdminVerifier string `json:"admin_verifier,omitempty"`
	Operator      string `json:"operator,omitempty"`
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
	if get[JoinToken](tx.Txn, tableJoinTokens, t.Hash) != nil {
		return conflictf("join token already exists")
	}
	t.UsedBy = ""
	return put(tx, tableJoinTokens, nil, &t)
}

// applyUseJoinToken spends a join token: it must exist, be unused and not
// have expired at the leader's time.
func applyUseJoinToken(tx *writeTxn, body []byte) error {
	var u UseJoinToken
	if err := decodeJSON(body, &u); err != nil {
		return err
	}
	t := get[JoinToken](tx.Txn, tableJoinTokens, u.Hash)
	switch {
	case t == nil:
		return notFoundf("join token is not valid")
	case t.UsedBy != "" && t.UsedBy != u.Node:
		return conflictf("join token was already used")
	case u.Now >= t.ExpiresAt:
		return conflictf("join token has expired")
	}
	used := *t
	used.UsedBy = u.Node
	if err := put(tx, tableJoinTokens, t, &used); err != nil {
		return err
	}
	return admitNode(tx, &u)
}

// admitNode writes what a join brings: the node's record and its
// credentials. A node that joins again (a restart before it saved its
// state) keeps the operator and roles it was given the first time.
func admitNode(tx *writeTxn, u *UseJoinToken) error {
	if old := get[Credential](tx.Txn, tableCredentials, NodeCredentialID(u.Node)); old != nil {
		u.Operator = old.Operator
	}
	if u.Operator != "" {
		if err := checkID("operator", u.Operator); err != nil {
			return err
		}
		it, err := tx.Get(tableCredentials, "operator", u.Operator)
		if err != nil {
			return err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			c := o.(*Credential)
			if c.Kind == KindNode && c.Node != u.Node && !c.Revoked && get[Node](tx.Txn, tableNodes, c.Node) != nil {
				return conflictf("operator %s is served by node %s", u.Operator, c.Node)
			}
		}
	}
	if u.Record != nil {
		rec := *u.Record
		if rec.ID != u.Node {
			return invalidf("the record of a joining node is its own")
		}
		old := get[Node](tx.Txn, tableNodes, rec.ID)
		rec.Operator = ""
		if old != nil {
			rec.Operator = old.Operator
		}
		if err := putNode(tx, &rec, old); err != nil {
			return err
		}
	}
	if u.NodeVerifier != "" {
		c := Credential{ID: NodeCredentialID(u.Node), Kind: KindNode, Node: u.Node, Operator: u.Operator, Verifier: u.NodeVerifier}
		if err := putOwnCredential(tx, &c); err != nil {
			return err
		}
	}
	if u.AdminVerifier != "" && u.Operator != "" {
		c := Credential{ID: AdminCredentialID(u.Node), Kind: KindAdmin, Role: RoleOperatorAdmin,
			Operator: u.Operator, Node: u.Node, Verifier: u.AdminVerifier}
		if err := putOwnCredential(tx, &c); err != nil {
			return err
		}
	}
	return nil
}

// putOwnCredential writes a joining node's credential; one it already has
// keeps its role and operator, and takes the new verifier. A node
// credential revoked when the node was removed is restored: the join token
// admits the node again. A revoked admin token stays revoked.
func putOwnCredential(tx *writeTxn, c *Credential) error {
	old := get[Credential](tx.Txn, tableCredentials, c.ID)
	if old != nil {
		if old.Revoked && c.Kind != KindNode {
			return conflictf("credential %s is revoked", c.ID)
		}
		c.Role, c.Operator = old.Role, old.Operator
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return put(tx, tableCredentials, old, c)
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
