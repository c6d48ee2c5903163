package registry

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CredentialKind says what holds a credential.
type CredentialKind string

const (
	// KindNode is a node's own credential: 256 random bits the node made
	// and keeps in its data directory; it authenticates the node to the
	// other members and authors the node's own writes.
	KindNode CredentialKind = "node"
	// KindAdmin is a person's or a script's bearer token for the admin API.
	KindAdmin CredentialKind = "admin"
)

// Role is what an admin credential may change in the registry (see
// authorize.go). A node credential acts for its node, and for its
// operator as that operator's admin would.
type Role string

const (
	// RoleFederationAdmin is the consortium: operators' admission,
	// suspension and removal, SPs, the catalogue, join tokens, nodes,
	// credentials.
	RoleFederationAdmin Role = "federation-admin"
	// RoleOperatorAdmin is bound to one operator: its record, its ranges
	// and IP ranges, its SP policies.
	RoleOperatorAdmin Role = "operator-admin"
	// RolePortingAuthority imports the national portability feed: it ports
	// numbers and nothing else.
	RolePortingAuthority Role = "porting-authority"
)

// Credential is a principal the registry knows: the verifier of its
// secret, never the secret, and what it may do. Rows are never deleted:
// a revoked credential stays, so the audit log's authors stay resolvable.
type Credential struct {
	// ID is "node:<node id>" for a node, "admin:<node id>" for the admin
	// token a node was started with, and a random id for a credential the
	// federation admin issued (its token is "mcfed_<id>_<secret>").
	ID   string         `json:"id"`
	Kind CredentialKind `json:"kind"`
	Role Role           `json:"role,omitempty"`
	// Operator is the operator an operator admin, or a node, acts for.
	Operator string `json:"operator,omitempty"`
	// Node is the node a node credential, or a node's admin token, is of.
	Node string `json:"node,omitempty"`
	// Verifier is how a presented secret is checked: "sha256:<hex>" for
	// generated secrets of 256 bits (an offline guess is useless), or
	// "pbkdf2-sha256$<iterations>$<salt>$<hash>" for a token a person
	// chose.
	Verifier string `json:"verifier"`
	Revoked  bool   `json:"revoked,omitempty"`
	// Certificate binds a node credential to the TLS client certificate
	// the node joined with: CertificateFingerprint of it, "" without TLS.
	// The node's internal calls must present that certificate.
	Certificate string `json:"certificate,omitempty"`
	// Name says whom the credential was issued to, for people reading
	// the audit log.
	Name string `json:"name,omitempty"`
	Meta
}

// CertificateFingerprint is what a node credential's Certificate holds:
// SHA-256 of the certificate's DER.
func CertificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NodeCredentialID is the id of node's own credential.
func NodeCredentialID(node string) string { return "node:" + node }

// AdminCredentialID is the id of the admin token node was started with.
func AdminCredentialID(node string) string { return "admin:" + node }

// IssuedTokenPrefix opens every token the federation admin issues; the
// credential id follows it, then "_" and the secret.
const IssuedTokenPrefix = "mcfed_"

// IssuedToken builds the bearer token of an issued credential.
func IssuedToken(id, secret string) string { return IssuedTokenPrefix + id + "_" + secret }

// ParseIssuedToken returns the credential id an issued token names; ok is
// false for anything else (a node's --admin-token).
func ParseIssuedToken(token string) (id string, ok bool) {
	rest, found := strings.CutPrefix(token, IssuedTokenPrefix)
	if !found {
		return "", false
	}
	id, secret, found := strings.Cut(rest, "_")
	if !found || secret == "" || !issuedIDPattern.MatchString(id) {
		return "", false
	}
	return id, true
}

var (
	issuedIDPattern = regexp.MustCompile(`^[a-z0-9]{8,32}$`)
	pbkdf2Pattern   = regexp.MustCompile(`^pbkdf2-sha256\$[0-9]{1,9}\$[A-Za-z0-9_-]{16,64}\$[A-Za-z0-9_-]{43}$`)
)

// SlowHashIterations is the PBKDF2 cost of a person's admin token (OWASP's
// figure for PBKDF2-HMAC-SHA256). Nodes check a token once and remember it.
const SlowHashIterations = 600_000

// SlowVerifier returns the PBKDF2 verifier of a token a person chose, with
// a random salt; iterations <= 0 is SlowHashIterations. It is computed by
// whoever builds the command, never by Apply.
func SlowVerifier(token string, iterations int) (string, error) {
	if iterations <= 0 {
		iterations = SlowHashIterations
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum, err := pbkdf2.Key(sha256.New, token, salt, iterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", iterations, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// CheckSecret reports whether secret is the credential's, in time that does
// not depend on how much of it matches. A PBKDF2 verifier costs its
// iterations: callers cache a success.
func (c *Credential) CheckSecret(secret string) bool {
	if strings.HasPrefix(c.Verifier, "sha256:") {
		return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(c.Verifier)) == 1
	}
	parts := strings.Split(c.Verifier, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	enc := base64.RawURLEncoding
	salt, serr := enc.DecodeString(parts[2])
	want, herr := enc.DecodeString(parts[3])
	if err != nil || serr != nil || herr != nil || iterations <= 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iterations, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// Validate checks the fields a caller supplies.
func (c *Credential) Validate() error {
	switch c.Kind {
	case KindNode:
		if err := checkID("node", c.Node); err != nil {
			return err
		}
		if c.ID != NodeCredentialID(c.Node) {
			return invalidf("a node credential's id is node:<node id>, not %q", c.ID)
		}
		if c.Role != "" {
			return invalidf("a node credential has no role: it acts for its node and its operator")
		}
	case KindAdmin:
		if c.Node != "" {
			if err := checkID("node", c.Node); err != nil {
				return err
			}
			if c.ID != AdminCredentialID(c.Node) {
				return invalidf("a node's admin credential's id is admin:<node id>, not %q", c.ID)
			}
		} else if !issuedIDPattern.MatchString(c.ID) {
			return invalidf("credential id %q: use 8-32 characters of a-z and 0-9", c.ID)
		}
		switch c.Role {
		case RoleFederationAdmin, RolePortingAuthority:
			if c.Operator != "" {
				return invalidf("a %s credential is bound to no operator", c.Role)
			}
		case RoleOperatorAdmin:
			if err := checkID("operator", c.Operator); err != nil {
				return err
			}
		default:
			return invalidf("role %q: use %s, %s or %s", c.Role, RoleFederationAdmin, RoleOperatorAdmin, RolePortingAuthority)
		}
	default:
		return invalidf("credential kind %q: use %s or %s", c.Kind, KindNode, KindAdmin)
	}
	if c.Operator != "" {
		if err := checkID("operator", c.Operator); err != nil {
			return err
		}
	}
	if !secretHashPattern.MatchString(c.Verifier) && !pbkdf2Pattern.MatchString(c.Verifier) {
		return invalidf("verifier must be sha256:<64 hex digits> or pbkdf2-sha256$<iterations>$<salt>$<hash>")
	}
	if c.Certificate != "" && (c.Kind != KindNode || !secretHashPattern.MatchString(c.Certificate)) {
		return invalidf("certificate is a node credential's, sha256:<64 hex digits>")
	}
	if len(c.Name) > 200 {
		return invalidf("credential name is longer than 200 characters")
	}
	return nil
}

// CredentialBatch is the body of CmdPutCredentials: credentials created or
// replaced all or nothing (a bootstrap node registers its node credential
// and its admin token in one).
type CredentialBatch struct {
	Credentials []Credential `json:"credentials"`
}

func applyPutCredentials(tx *writeTxn, body []byte) error {
	var b CredentialBatch
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	if len(b.Credentials) == 0 {
		return invalidf("no credentials in the batch")
	}
	for i := range b.Credentials {
		c := b.Credentials[i]
		if err := c.Validate(); err != nil {
			return err
		}
		if err := put(tx, tableCredentials, get[Credential](tx.Txn, tableCredentials, c.ID), &c); err != nil {
			return err
		}
	}
	return keepsApprovers(tx)
}

// applyRevokeCredential marks a credential revoked; its row stays.
func applyRevokeCredential(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	c := get[Credential](tx.Txn, tableCredentials, k.Key)
	if c == nil {
		return notFoundf("credential %q does not exist", k.Key)
	}
	if c.Revoked {
		return nil
	}
	revoked := *c
	revoked.Revoked = true
	if err := put(tx, tableCredentials, c, &revoked); err != nil {
		return err
	}
	return keepsApprovers(tx)
}

// Credential returns the credential with id, or nil.
func (r *Registry) Credential(id string) *Credential {
	return get[Credential](r.db.Txn(false), tableCredentials, id)
}

// Credentials lists credentials in id order, a page at a time.
func (r *Registry) Credentials(after string, limit int) Page[Credential] {
	return list(r.db, tableCredentials, func(c *Credential) string { return c.ID }, after, limit, nil)
}
