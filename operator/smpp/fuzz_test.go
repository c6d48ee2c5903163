package smpp

import (
	"bytes"
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// pduBytes is p as it crosses the wire.
func pduBytes(p pdu.PDU, seq int32) []byte {
	p.SetSequenceNumber(seq)
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	p.Marshal(buf)
	return buf.Bytes()
}

// FuzzSMSCPDU reads arbitrary bytes as the client reads a PDU from its SMSC
// (readPDU: gosmpp's parser, guarded; then the client's handling of what it parsed): nothing
// panics, a request the client answers gets an answer with its sequence
// number, and a message's status stays consistent (never more parts
// delivered than it has).
func FuzzSMSCPDU(f *testing.F) {
	resp := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	resp.MessageID = "part-1"
	f.Add(pduBytes(resp, 1))
	rcpt := pdu.NewDeliverSM().(*pdu.DeliverSM)
	rcpt.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	_ = rcpt.Message.SetMessageWithEncoding("id:part-0 sub:001 dlvrd:001 stat:DELIVRD err:000 text:x", data.GSM7BIT)
	f.Add(pduBytes(rcpt, 7))
	f.Add(pduBytes(pdu.NewGenericNack(), 2))
	f.Add(pduBytes(pdu.NewEnquireLink(), 3))
	f.Add(pduBytes(pdu.NewUnbind(), 4))
	f.Add(pduBytes(pdu.NewQuerySM(), 5))
	f.Add([]byte{0, 0, 0, 16, 0x80, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, err := readPDU(bytes.NewReader(b))
		if err != nil {
			return
		}
		c, err := newClient(Config{Addr: "127.0.0.1:2775", SystemID: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		m := &message{status: MessageStatus{PartIDs: make([]string, 2)}, states: make([]string, 2)}
		c.registerPart(m, 0, "part-0")
		s := &session{closed: make(chan struct{}), pending: map[int32]*pending{
			1: {ch: make(chan result, 1), msg: m, idx: 1},
			2: {ch: make(chan result, 1), msg: m, idx: 1},
		}}
		answer, _ := c.onPDU(s)(p)
		if answer != nil && answer.GetSequenceNumber() != p.GetSequenceNumber() {
			t.Fatalf("answered sequence %d to %d", answer.GetSequenceNumber(), p.GetSequenceNumber())
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if m.status.Delivered > len(m.states) {
			t.Fatalf("%d parts delivered of %d", m.status.Delivered, len(m.states))
		}
	})
}
