// Package ota is the secured packet of the over-the-air leg between a
// Mobile Signature Service Provider and a SIM card, in the shape of ETSI TS
// 102 225 (3GPP TS 23.048): a clear header the receiver reads first (the
// direction and a counter that only grows, so that a replayed packet is
// refused), and the payload ciphered and given a cryptographic checksum
// with a key only that SIM and the MSSP hold. Where TS 102 225 pairs
// AES-CBC (KIc) with an AES-CMAC checksum (KID), one AEAD does both here:
// AES-256-GCM, the header and the SIM's number as associated data, so a
// packet changed in transit, or moved to another SIM, does not open.
package ota

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
)

// Key is one SIM's OTA key, shared with its MSSP at personalisation.
type Key [32]byte

// NewKey draws a key.
func NewKey() Key {
	var k Key
	rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// Direction says which way a packet travels; each direction has its own
// counter, and a packet made for one does not open as the other.
type Direction byte

const (
	ToSIM   Direction = 1 // MSSP → SIM: the command packet (MT)
	FromSIM Direction = 2 // SIM → MSSP: the response packet (MO)
)

const (
	version    = 1
	headerSize = 1 + 1 + 8 // version, direction, counter
)

// Errors of Open.
var (
	// ErrMalformed: too short, another version or direction.
	ErrMalformed = errors.New("ota: malformed packet")
	// ErrChecksum: the cryptographic checksum fails (TS 102 225's
	// "RC/CC/DS failed"): changed in transit, another key or SIM.
	ErrChecksum = errors.New("ota: cryptographic checksum failed")
	// ErrReplay: a counter not above the last one accepted.
	ErrReplay = errors.New("ota: counter not above the last one (replay)")
)

// Seal makes the packet of payload from the sender of dir, with its next
// counter, for the SIM of subscriber (its number: the packet does not
// open for another).
func Seal(key Key, dir Direction, counter uint64, subscriber string, payload []byte) []byte {
	hdr := make([]byte, headerSize, headerSize+len(payload)+16)
	hdr[0], hdr[1] = version, byte(dir)
	binary.BigEndian.PutUint64(hdr[2:], counter)
	return aead(key).Seal(hdr, nonce(dir, counter), payload, associated(hdr, subscriber))
}

// Counter reads a packet's counter from its clear header, without
// opening it: a SIM names the command its "checksum failed" answer is for.
func Counter(packet []byte) (uint64, bool) {
	if len(packet) < headerSize || packet[0] != version {
		return 0, false
	}
	return binary.BigEndian.Uint64(packet[2:headerSize]), true
}

// Open checks and deciphers a packet of dir for subscriber's SIM; last is
// the highest counter the receiver accepted before. It returns the
// packet's counter, which the receiver keeps as its new last.
func Open(key Key, dir Direction, last uint64, subscriber string, packet []byte) (uint64, []byte, error) {
	if len(packet) < headerSize+16 || packet[0] != version || Direction(packet[1]) != dir {
		return 0, nil, ErrMalformed
	}
	hdr := packet[:headerSize]
	counter := binary.BigEndian.Uint64(hdr[2:])
	payload, err := aead(key).Open(nil, nonce(dir, counter), packet[headerSize:], associated(hdr, subscriber))
	if err != nil {
		return counter, nil, ErrChecksum
	}
	if counter <= last {
		return counter, nil, ErrReplay
	}
	return counter, payload, nil
}

func aead(key Key) cipher.AEAD {
	b, _ := aes.NewCipher(key[:]) // 32 bytes: never fails
	g, _ := cipher.NewGCM(b)
	return g
}

// nonce is unique per key as long as counters never repeat in a
// direction, which the senders ensure (they only count up).
func nonce(dir Direction, counter uint64) []byte {
	n := make([]byte, 12)
	n[0] = byte(dir)
	binary.BigEndian.PutUint64(n[4:], counter)
	return n
}

func associated(hdr []byte, subscriber string) []byte {
	return append(append([]byte{}, hdr...), subscriber...)
}
