package smsc_test

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/mcfed/mcfed/operator/smsc"
)

type raw struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &raw{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *raw) call(p pdu.PDU) pdu.PDU {
	c.t.Helper()
	b := pdu.NewBuffer(nil)
	p.Marshal(b)
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := pdu.Parse(c.r)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.GetSequenceNumber() != p.GetSequenceNumber() {
		c.t.Fatalf("response seq %d for request %d", resp.GetSequenceNumber(), p.GetSequenceNumber())
	}
	return resp
}

func bind(t pdu.BindingType, id, pw string) pdu.PDU {
	b := pdu.NewBindRequest(t)
	b.SystemID, b.Password = id, pw
	return b
}

func submit(to, text string) *pdu.SubmitSM {
	s := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = s.DestAddr.SetAddress(to)
	_ = s.SourceAddr.SetAddress("OP")
	s.Message, _ = pdu.NewShortMessage(text)
	s.RegisteredDelivery = 1
	return s
}

func TestProtocol(t *testing.T) {
	got := make(chan smsc.Message, 4)
	srv, err := smsc.Listen(smsc.Config{Addr: "127.0.0.1:0", SystemID: "op", Password: "pw",
		Deliverer: smsc.DelivererFunc(func(m smsc.Message) error {
			got <- m
			if m.Text == "fail" {
				return errors.New("handset off")
			}
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	c := dialRaw(t, srv.Addr())
	if r := c.call(submit("4915112345678", "x")); r.GetHeader().CommandStatus != data.ESME_RINVBNDSTS {
		t.Errorf("submit before bind: %v", r.GetHeader().CommandStatus)
	}
	if r := c.call(bind(pdu.Transceiver, "nobody", "pw")); r.GetHeader().CommandStatus != data.ESME_RINVSYSID {
		t.Errorf("unknown system_id: %v", r.GetHeader().CommandStatus)
	}

	c = dialRaw(t, srv.Addr())
	if r := c.call(bind(pdu.Transceiver, "op", "pw")); !r.IsOk() {
		t.Fatalf("bind: %v", r.GetHeader().CommandStatus)
	}
	if r := c.call(pdu.NewEnquireLink()); r.GetHeader().CommandID != data.ENQUIRE_LINK_RESP || !r.IsOk() {
		t.Errorf("enquire_link: %+v", r.GetHeader())
	}
	if r := c.call(submit("not-a-number", "x")); r.GetHeader().CommandStatus != data.ESME_RINVDSTADR {
		t.Errorf("bad destination: %v", r.GetHeader().CommandStatus)
	}
	if r := c.call(submit("015112345678", "x")); r.GetHeader().CommandStatus != data.ESME_RINVDSTADR {
		t.Errorf("national number (no country code): %v", r.GetHeader().CommandStatus)
	}
	r := c.call(submit("4915112345678", "fail")).(*pdu.SubmitSMResp)
	if !r.IsOk() || r.MessageID == "" {
		t.Fatalf("submit: %+v", r)
	}
	m := <-got
	if m.ID != r.MessageID || m.To != "4915112345678" || m.From != "OP" {
		t.Errorf("delivered %+v", m)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	p, err := pdu.Parse(c.r)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := p.(*pdu.DeliverSM)
	if !ok || d.EsmClass != data.SM_SMSC_DLV_RCPT_TYPE {
		t.Fatalf("want receipt, got %T %+v", p, p)
	}
	text, _ := d.Message.GetMessage()
	want := "id:" + r.MessageID + " sub:001 dlvrd:000"
	if len(text) < len(want) || text[:len(want)] != want || !contains(text, "stat:UNDELIV err:001") {
		t.Errorf("receipt text %q", text)
	}
	if f := d.OptionalParameters[pdu.TagReceiptedMessageID]; f.String() != r.MessageID {
		t.Errorf("receipted_message_id %q", f.String())
	}
	if r := c.call(pdu.NewUnbind()); r.GetHeader().CommandID != data.UNBIND_RESP {
		t.Errorf("unbind: %+v", r.GetHeader())
	}

	// Close drops connections; Start listens again on the same address.
	addr := srv.Addr()
	c = dialRaw(t, addr)
	c.call(bind(pdu.Transmitter, "op", "pw"))
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := pdu.Parse(c.r); err == nil {
		t.Error("connection survived Close")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still listening after Close")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != addr {
		t.Errorf("restarted on %s, want %s", srv.Addr(), addr)
	}
	c = dialRaw(t, addr)
	if r := c.call(bind(pdu.Transmitter, "op", "pw")); !r.IsOk() {
		t.Errorf("bind after restart: %v", r.GetHeader().CommandStatus)
	}

	// The Deliverer gets the destination's E.164 digits, without the '+'.
	if r := c.call(submit("+4915112345678", "plus")); !r.IsOk() {
		t.Fatalf("submit to +4915112345678: %v", r.GetHeader().CommandStatus)
	}
	select {
	case m := <-got:
		if m.To != "4915112345678" || m.Text != "plus" {
			t.Errorf("delivered %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("submit to +4915112345678 never delivered")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestConfig(t *testing.T) {
	if _, err := smsc.New(smsc.Config{SystemID: "op"}); err == nil {
		t.Error("no password accepted")
	}
	if _, err := smsc.New(smsc.Config{SystemID: "op", Password: "123456789"}); err == nil {
		t.Error("9-character password accepted")
	}
}
