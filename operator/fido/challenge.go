package fido

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/mcfed/mcfed/idgw"
)

// The state the gateway keeps for a login challenge is its id and expiry:
// everything else is in the store (challengeRecord), where every node of
// the operator finds it and where its single use is decided.
const stateVersion = 1

var errBadState = errors.New("fido: malformed challenge state")

type loginState struct {
	id      [32]byte
	expires time.Time
}

func (s loginState) encode() []byte {
	b := make([]byte, 0, 1+8+32)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(s.expires.UnixNano()))
	return append(b, s.id[:]...)
}

func decodeState(b []byte) (loginState, error) {
	var s loginState
	if len(b) != 1+8+32 || b[0] != stateVersion {
		return s, errBadState
	}
	s.expires = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	copy(s.id[:], b[9:])
	return s, nil
}

// pageToken is the id as the page's URL carries it.
func (s loginState) pageToken() string { return base64.RawURLEncoding.EncodeToString(s.id[:]) }

// Where a login challenge stands.
const (
	statusPending  = "pending"  // waiting for the assertion
	statusVerified = "verified" // a good assertion came; Check has not seen it yet
	statusUsed     = "used"     // Check reported the success once
	statusFailed   = "failed"   // too many refused assertions, or the person chose another way
)

// challengeRecord is a login challenge in the store.
type challengeRecord struct {
	MSISDN uint64 `json:"msisdn"`
	// Session is go-webauthn's record of the ceremony (the challenge, the
	// allowed credentials, the RP ID); Options what the page's script
	// hands to navigator.credentials.get.
	Session  webauthn.SessionData `json:"session"`
	Options  json.RawMessage      `json:"options"`
	Status   string               `json:"status"`
	Attempts int                  `json:"attempts"`
	// Refusal says why the challenge failed, for the SP, and Failure
	// what the person's page says of it.
	Refusal string       `json:"refusal,omitempty"`
	Failure idgw.Failure `json:"failure,omitempty"`
	// Decoy: nothing can answer it (idgw.Decoy).
	Decoy   bool      `json:"decoy,omitempty"`
	Expires time.Time `json:"expires"`
	// ClaimedUntil is set while one posted assertion is being checked:
	// the others posted meanwhile are turned away, so that of concurrent
	// posts exactly one decides (a claimant that died frees it then).
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	View         view      `json:"view"`
	// Phone: the challenge was pushed to the subscriber's phone; the
	// page waits for it (phone.go).
	Phone bool `json:"phone,omitempty"`
}

// view is what a page shows the person: the operator's look, the SP, the
// masked number, in the person's language, and where it goes back to.
type view struct {
	Look   idgw.Look `json:"look"`
	SP     string    `json:"sp,omitempty"`
	Number string    `json:"number,omitempty"`
	Lang   string    `json:"lang"`
	Return string    `json:"return,omitempty"`
}
