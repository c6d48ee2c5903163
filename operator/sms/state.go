package sms

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// challengeState is what the gateway keeps for one challenge between Start and
// Check. It holds only hashes: the code salted with the challenge id, and
// the link token. It is binary, so that no decimal field (the expiry) can
// happen to spell a code.
type challengeState struct {
	mode     Mode
	attempts int
	expires  time.Time
	id       [16]byte // challenge id, also the salt of the code's hash
	codeHash [32]byte // SHA-256(id || code), when the mode has a code
	linkHash [32]byte // SHA-256(token), when the mode has a link
}

const stateVersion = 1

var errBadState = errors.New("sms: malformed challenge state")

var modeByte = map[Mode]byte{ModeOTP: 1, ModeURL: 2, ModeOTPURL: 3}

func (s *challengeState) encode() []byte {
	b := make([]byte, 0, 4+8+16+64)
	b = append(b, stateVersion, modeByte[s.mode], byte(s.attempts))
	b = binary.BigEndian.AppendUint64(b, uint64(s.expires.UnixNano()))
	b = append(b, s.id[:]...)
	if s.mode.hasCode() {
		b = append(b, s.codeHash[:]...)
	}
	if s.mode.hasLink() {
		b = append(b, s.linkHash[:]...)
	}
	return b
}

func decodeState(b []byte) (*challengeState, error) {
	if len(b) < 3+8+16 || b[0] != stateVersion {
		return nil, errBadState
	}
	s := &challengeState{attempts: int(b[2])}
	for m, v := range modeByte {
		if v == b[1] {
			s.mode = m
		}
	}
	if s.mode == "" {
		return nil, errBadState
	}
	s.expires = time.Unix(0, int64(binary.BigEndian.Uint64(b[3:11])))
	copy(s.id[:], b[11:27])
	rest := b[27:]
	want := 0
	if s.mode.hasCode() {
		want += 32
	}
	if s.mode.hasLink() {
		want += 32
	}
	if len(rest) != want {
		return nil, errBadState
	}
	if s.mode.hasCode() {
		copy(s.codeHash[:], rest[:32])
		rest = rest[32:]
	}
	if s.mode.hasLink() {
		copy(s.linkHash[:], rest[:32])
	}
	return s, nil
}

func hashCode(id [16]byte, code string) [32]byte {
	h := sha256.New()
	h.Write(id[:])
	h.Write([]byte(code))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func hashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }
