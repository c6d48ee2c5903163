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
)

// commandVersion is the second byte of every encoded command. A replica
// refuses a version it does not know rather than guess at its body, so a
// mixed-version cluster stops applying instead of diverging.
const commandVersion = 1

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

func decodeCommand(cmd []byte) (CommandType, []byte, error) {
	if len(cmd) < 2 {
		return 0, nil, invalidf("command of %d bytes is too short", len(cmd))
	}
	if cmd[1] != commandVersion {
		return 0, nil, invalidf("command %d has version %d, this node knows %d", cmd[0], cmd[1], commandVersion)
	}
	return CommandType(cmd[0]), cmd[2:], nil
}

// decodeJSON decodes a JSON command body.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return invalidf("command body: %v", err)
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
