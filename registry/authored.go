package registry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Author is who wrote a command, as the leader authenticated it: the
// credential presented and what the registry says of it.
type Author struct {
	Credential string         `json:"credential"`
	Kind       CredentialKind `json:"kind"`
	Role       Role           `json:"role,omitempty"`
	Operator   string         `json:"operator,omitempty"`
	Node       string         `json:"node,omitempty"`
}

// AuthorOf is the author a credential makes.
func AuthorOf(c *Credential) Author {
	return Author{Credential: c.ID, Kind: c.Kind, Role: c.Role, Operator: c.Operator, Node: c.Node}
}

// Header is what the leader states about an authored command: who, when
// (its clock, Unix milliseconds: the FSM reads no clock), the request
// that asked for it, and the write it is a try of (writes.go).
type Header struct {
	Author    Author `json:"author"`
	Time      int64  `json:"time"`
	RequestID string `json:"request_id,omitempty"`
	// WriteID is the same in every try of one write: the registry
	// applies the first, and answers the others with its outcome.
	WriteID string `json:"write_id,omitempty"`
}

// An envelope's version: 2 when its header carries a write id. A build
// that knows only version 1 would read such a header without the id and
// apply a repeat twice, diverging from the replicas that skip it; version
// 2 makes it halt instead (see UninterpretableError). An envelope without
// a write id is still written as version 1, which every build reads.
const (
	authoredVersion        = commandVersion
	authoredWriteIDVersion = 2
)

// maxHeaderBytes bounds an envelope's header: a few short strings.
const maxHeaderBytes = 4 << 10

// EncodeAuthored wraps cmd in a CmdAuthored envelope:
// [type][version][uvarint header length][header JSON][cmd]. Only the
// leader builds one, after it authenticated the author; the FSM applies
// cmd only if the author may write it (authorize.go), and records the
// outcome in the audit log either way.
func EncodeAuthored(h Header, cmd []byte) ([]byte, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	version := byte(authoredVersion)
	if h.WriteID != "" {
		version = authoredWriteIDVersion
	}
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(hj)+len(cmd))
	b = append(b, byte(CmdAuthored), version)
	b = binary.AppendUvarint(b, uint64(len(hj)))
	b = append(b, hj...)
	return append(b, cmd...), nil
}

// decodeAuthored splits an envelope's body into its header and the inner
// command. An envelope that does not decode cannot be interpreted.
func decodeAuthored(body []byte) (Header, []byte, error) {
	var h Header
	l, n := binary.Uvarint(body)
	if n <= 0 || l > maxHeaderBytes || uint64(len(body)-n) < l {
		return h, nil, uninterpretable("authored command: bad header length")
	}
	if err := json.Unmarshal(body[n:n+int(l)], &h); err != nil {
		return h, nil, uninterpretable("authored command header: %v", err)
	}
	inner := body[n+int(l):]
	if len(inner) < 2 {
		return h, nil, uninterpretable("authored command: no inner command")
	}
	return h, inner, nil
}

// Create wraps a put command so that it creates only: the FSM refuses it
// (CodeConflict) when what it would write exists, so two concurrent
// creates of one SP, operator or range never both succeed. Only the put
// commands of single entities and range batches can be wrapped.
func Create(cmd []byte) []byte {
	return append([]byte{byte(CmdCreate), commandVersion}, cmd...)
}

// createCheck returns the check that what a put command writes does not
// exist yet; nil for the commands Create cannot wrap.
func createCheck(typ CommandType) func(tx *writeTxn, body []byte) error {
	switch typ {
	case CmdPutOperator:
		return func(tx *writeTxn, body []byte) error {
			var o Operator
			if err := decodeJSON(body, &o); err != nil {
				return err
			}
			return absent[Operator](tx, tableOperators, o.ID, "operator")
		}
	case CmdPutSP:
		return func(tx *writeTxn, body []byte) error {
			var sp ServiceProvider
			if err := decodeJSON(body, &sp); err != nil {
				return err
			}
			return absent[ServiceProvider](tx, tableSPs, sp.ClientID, "service provider")
		}
	case CmdPutScope:
		return func(tx *writeTxn, body []byte) error {
			var s Scope
			if err := decodeJSON(body, &s); err != nil {
				return err
			}
			return absent[Scope](tx, tableScopes, s.Name, "scope")
		}
	case CmdPutProduct:
		return func(tx *writeTxn, body []byte) error {
			var p Product
			if err := decodeJSON(body, &p); err != nil {
				return err
			}
			return absent[Product](tx, tableProducts, p.ID, "product")
		}
	case CmdPutDeveloper:
		return func(tx *writeTxn, body []byte) error {
			var d Developer
			if err := decodeJSON(body, &d); err != nil {
				return err
			}
			return absent[Developer](tx, tableDevelopers, d.ID, "developer")
		}
	case CmdPutAPI:
		return func(tx *writeTxn, body []byte) error {
			var a API
			if err := decodeJSON(body, &a); err != nil {
				return err
			}
			return absent[API](tx, tableAPIs, a.ID, "API")
		}
	case CmdPutIPRange:
		return func(tx *writeTxn, body []byte) error {
			var rg IPRange
			if err := decodeJSON(body, &rg); err != nil {
				return err
			}
			p, err := parseCIDR(rg.CIDR)
			if err != nil {
				return err
			}
			return absent[IPRange](tx, tableIPRanges, p.String(), "IP range")
		}
	case CmdPutRanges:
		return func(tx *writeTxn, body []byte) error {
			var b RangeBatch
			if err := decodeJSON(body, &b); err != nil {
				return err
			}
			for _, rg := range b.Ranges {
				if cur, _ := rangeHolders(tx, rg.Prefix); cur != "" {
					return conflictf("range %s already exists (operator %s)", rg.Prefix, cur)
				}
			}
			return nil
		}
	}
	return nil
}

func absent[T any](tx *writeTxn, table, key, what string) error {
	if get[T](tx.Txn, table, key) != nil {
		return conflictf("%s %s already exists", what, key)
	}
	return nil
}

// applyCreate applies the wrapped put command if what it writes does not
// exist yet.
func applyCreate(tx *writeTxn, body []byte) error {
	fn, err := tx.r.lookup(body)
	if err != nil {
		return err
	}
	typ := CommandType(body[0]) &^ SkipIfUnknown
	check := createCheck(typ)
	if check == nil || fn == nil {
		return invalidf("command type %d cannot be a create", typ)
	}
	if err := check(tx, body[2:]); err != nil {
		return err
	}
	return fn(tx, body[2:])
}

// unwrapAuthored splits an authored command into its header and inner
// command, which must not be authored itself.
func unwrapAuthored(cmd []byte) (Header, []byte, error) {
	if cmd[1] != authoredVersion && cmd[1] != authoredWriteIDVersion {
		return Header{}, nil, &UninterpretableError{Type: CmdAuthored, Version: cmd[1],
			Reason: fmt.Sprintf("unknown version %d (this build knows %d and %d)", cmd[1], authoredVersion, authoredWriteIDVersion)}
	}
	h, inner, err := decodeAuthored(cmd[2:])
	if cmd[1] == authoredVersion {
		// As a build that knows only version 1 reads it.
		h.WriteID = ""
	}
	if err == nil && CommandType(inner[0]) == CmdAuthored {
		err = uninterpretable("an authored command wraps another")
	}
	var ue *UninterpretableError
	if errors.As(err, &ue) {
		ue.Type, ue.Version = CmdAuthored, cmd[1]
	}
	return h, inner, err
}

// applyAuthored judges and applies an authored command, and records it in
// the audit log: applied, or refused (a refusal changes nothing else). A
// command this build cannot read changes nothing at all, the audit log and
// the applied index included. A repeat of a write already applied is
// neither applied nor audited again: it returns the first copy's index and
// outcome (writes.go).
func (r *Registry) applyAuthored(index uint64, cmd []byte) (uint64, error) {
	h, inner, err := unwrapAuthored(cmd)
	if err != nil {
		return index, err
	}
	fn, err := r.lookup(inner)
	if err != nil {
		return index, err
	}
	if fn == nil { // unknown, and marked SkipIfUnknown
		r.applied.Store(index)
		return index, nil
	}
	typ, body := CommandType(inner[0])&^SkipIfUnknown, inner[2:]
	tx := &writeTxn{Txn: r.db.Txn(true), r: r, index: index, time: h.Time, author: h.Author}
	defer func() { tx.Abort() }()
	first, reused := repeatOf(tx.Txn, h)
	if first != nil {
		if err := pruneWrites(tx.Txn, h.Time); err != nil {
			return index, err
		}
		tx.Commit()
		r.applied.Store(index)
		return first.Index, first.refusal()
	}
	remember := h
	if reused != nil {
		remember.WriteID = "" // the id is taken
	}
	p := resolve(tx, h.Author)
	s, refusal := judge(tx, p, typ, body)
	if refusal == nil {
		refusal = reused
	}
	// As of before the command: a change of k needs the k it changes.
	waits := refusal == nil && needsApprovals(tx, s)
	var before string
	if refusal == nil {
		before = digest(tx.Txn, s.table, s.key)
		refusal = fn(tx, body)
	}
	if waits && refusal == nil && h.Time == 0 {
		refusal = invalidf("a federation-admin act that needs approvals needs the leader's clock")
	}
	var ue *UninterpretableError
	if errors.As(refusal, &ue) {
		ue.Type, ue.Version = typ, inner[1]
		return index, ue
	}
	e := &AuditEntry{Index: index, Time: h.Time, Author: p.Author, RequestID: h.RequestID,
		Command: s.command, Keys: s.keys, Operators: s.operators, Outcome: OutcomeApplied}
	if s.keyCount > len(s.keys) {
		e.KeyCount = s.keyCount
	}
	if p.Operator != "" && !slices.Contains(e.Operators, p.Operator) {
		e.Operators = append(e.Operators, p.Operator)
	}
	switch {
	case refusal != nil:
		// The command's changes go; its audit entry stays.
		tx.Abort()
		tx = &writeTxn{Txn: r.db.Txn(true), r: r, index: index, time: h.Time, author: h.Author}
		e.Outcome, e.Code, e.Reason = OutcomeRefused, CodeOf(refusal), refusal.Error()
		// A claim on another operator's range is refused and recorded as
		// a dispute (disputes.go); an approved proposal whose command is
		// refused closes (approvals.go).
		var rec interface{ record(*writeTxn) error }
		if errors.As(refusal, &rec) {
			if err := rec.record(tx); err != nil {
				return index, err
			}
		}
	case waits:
		// It would apply: it waits for k federation admins instead
		// (approvals.go).
		tx.Abort()
		tx = &writeTxn{Txn: r.db.Txn(true), r: r, index: index, time: h.Time, author: h.Author}
		prop, err := propose(tx, h, s, inner)
		if err != nil {
			return index, err
		}
		e.Outcome, e.Reason = OutcomeProposed, fmt.Sprintf("proposal %s: needs %d approvals", prop.ID, approvalsRequired(tx))
		e.Keys = append([]string{prop.ID}, e.Keys...)
	default:
		e.Before, e.After = before, digest(tx.Txn, s.table, s.key)
	}
	if err := audit(tx.Txn, e); err != nil {
		return index, err
	}
	if err := rememberWrite(tx.Txn, remember, index, refusal); err != nil {
		return index, err
	}
	tx.Commit()
	for _, f := range tx.after {
		f()
	}
	r.applied.Store(index)
	return index, refusal
}
