package registry

import (
	"encoding/json"
	"fmt"
)

// CommandType is the first byte of an encoded command.
type CommandType uint8

// The command types. Their values are written in the Raft log: never reuse
// or renumber one; add new ones at the end.
const (
	CmdPutOperator CommandType = iota + 1
	CmdDeleteOperator
	CmdPutRanges
	CmdDeleteRanges
	CmdPortNumbers
	CmdPutIPRange
	CmdDeleteIPRange
	CmdPutSP
	CmdDeleteSP
	CmdPutScope
	CmdDeleteScope
	CmdPutProduct
	CmdDeleteProduct
	CmdPutNode
	CmdDeleteNode
	CmdPutJoinToken
	CmdUseJoinToken
	CmdPutSPPolicy
	CmdDeleteSPPolicy
	CmdRemoveOperator
	CmdUpdateOperator
	// CmdAuthored wraps any other command with its author (authored.go).
	CmdAuthored
	// CmdCreate wraps a put command so that it only creates.
	CmdCreate
	CmdPutCredentials
	CmdRevokeCredential
	// Port requests (portrequests.go): filed by the recipient, decided by
	// the donor, the deadline or the federation; and the federation's
	// porting rules.
	CmdFilePortRequest
	CmdDecidePortRequest
	CmdPutPortingRules
	// CmdPruneJoinTokens removes the join tokens expired at the leader's
	// time.
	CmdPruneJoinTokens
	// CmdSettleDispute settles a range dispute (disputes.go): the
	// federation admin awards the range, which moves with it.
	CmdSettleDispute
	// CmdPutApprovalRules sets how many federation admins approve a
	// federation-admin act, and CmdDecideProposal approves, rejects or
	// expires a pending one (approvals.go).
	CmdPutApprovalRules
	CmdDecideProposal
	// CmdPutAuditRules sets how long the audit log keeps its entries
	// (auditrules.go).
	CmdPutAuditRules
	// CmdPutVoterRules names the federation's Raft voters and standby
	// non-voters; CmdPromoteNode makes a member a voter (voters.go).
	CmdPutVoterRules
	CmdPromoteNode
	// The catalogue's developers and APIs (developers.go).
	CmdPutDeveloper
	CmdDeleteDeveloper
	CmdPutAPI
	CmdDeleteAPI
)

// SkipIfUnknown, set in a command's type byte, marks a command that a
// replica which does not know its type (or its version) may skip, counting
// it applied: a family whose loss cannot make replicas disagree on anything
// an older node reads (consul's IgnoreUnknownTypeFlag). A replica that knows
// the type applies it as if the bit were clear. No command sets it yet;
// the command types above must stay below it.
const SkipIfUnknown CommandType = 0x80

// commandVersion is the second byte of every encoded command. A replica
// cannot interpret a version it does not know rather than guess at its body,
// so a mixed-version cluster stops applying instead of diverging.
const commandVersion = 1

// UninterpretableError is a command this replica cannot read: its type or
// version is unknown to this build, or its body does not decode. It is not a
// refusal (*Error): a refusal is a decision every replica makes alike, while
// this says the replica cannot make the decision at all, so skipping the
// command would let it diverge from the replicas that can. Apply leaves the
// registry and its applied index untouched; the replica must stop applying
// until it runs a build that can read the command.
type UninterpretableError struct {
	Type    CommandType
	Version uint8
	Reason  string
}

func (e *UninterpretableError) Error() string {
	return fmt.Sprintf("%s (command type %d, version %d): this build cannot interpret it", e.Reason, e.Type, e.Version)
}

func uninterpretable(format string, args ...any) error {
	return &UninterpretableError{Reason: fmt.Sprintf(format, args...)}
}

// Encode builds a command whose body is v as JSON. Port batches, whose bulk
// makes JSON too costly, are built with EncodePorts.
func Encode(t CommandType, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", t, err)
	}
	return append([]byte{byte(t), commandVersion}, body...), nil
}

// MustEncode is Encode for values that always marshal (the registry's own
// types); it is for tests and tools.
func MustEncode(t CommandType, v any) []byte {
	b, err := Encode(t, v)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeJSON decodes a JSON command body. A body that does not decode
// into the command's type cannot be interpreted: it is not a refusal.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return uninterpretable("body: %v", err)
	}
	return nil
}

// Key names the entity a delete command removes.
type Key struct {
	Key string `json:"key"`
}

// Keys names the entities a batch delete removes.
type Keys struct {
	Keys []string `json:"keys"`
}
