package smpp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// MalformedPDUError: the SMSC sent a PDU the client cannot read. The session
// is closed and the client reconnects.
type MalformedPDUError struct{ Reason string }

func (e *MalformedPDUError) Error() string { return "smpp: malformed PDU from the SMSC: " + e.Reason }

// readPDU reads one PDU from r and parses it as gosmpp's session will,
// returning its bytes and the PDU. gosmpp's parser panics on some
// malformed PDUs (optional parameters on a PDU type whose map it never
// made), in the session's own goroutine, where nothing could recover and
// the node would die: here the panic is an error.
func readPDU(r io.Reader) (raw []byte, p pdu.PDU, err error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, nil, err
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n < 16 || n > data.MAX_PDU_LEN {
		return nil, nil, &MalformedPDUError{Reason: fmt.Sprintf("command_length %d", n)}
	}
	raw = make([]byte, n)
	copy(raw, head[:])
	if _, err := io.ReadFull(r, raw[16:]); err != nil {
		return nil, nil, err
	}
	defer func() {
		if v := recover(); v != nil {
			raw, p, err = nil, nil, &MalformedPDUError{Reason: fmt.Sprint(v)}
		}
	}()
	p, err = pdu.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, &MalformedPDUError{Reason: err.Error()}
	}
	return raw, p, nil
}

// guardedConn hands gosmpp only PDUs that readPDU could parse; a malformed
// one is a read error, which closes the session.
type guardedConn struct {
	net.Conn
	buf []byte // the rest of the PDU being passed on
}

func (c *guardedConn) Read(b []byte) (int, error) {
	if len(c.buf) == 0 {
		raw, _, err := readPDU(c.Conn)
		if err != nil {
			return 0, err
		}
		c.buf = raw
	}
	n := copy(b, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}
