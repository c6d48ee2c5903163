// Package smsc is a simulated SMSC for `mcfed dev` and for tests. It speaks
// SMPP v3.4 on a TCP listener (bind_transmitter/transceiver/receiver with
// configured credentials, enquire_link, submit_sm with GSM 7-bit or UCS2 text
// and concatenated parts), assigns message ids, hands each complete message to
// a Deliverer (the simulated handset) and sends delivery receipts (deliver_sm,
// esm_class 0x04) back on transceiver and receiver binds.
//
// Close stops the listener and drops every connection, so tests can make "the
// SMSC going away"; Start may then be called again and listens on the same
// address.
package smsc

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/mcfed/mcfed/internal/e164"
)

// Message is one complete short message as it reaches the handset
// (concatenated parts already joined).
type Message struct {
	ID         string    // SMSC message id (of the first part)
	PartIDs    []string  // message id of every part, in order
	From       string    // source address as submitted
	To         string    // destination address (E.164 digits)
	Text       string    // decoded text
	Coding     byte      // data_coding of the parts (0 GSM 7-bit, 8 UCS2, ...)
	ReceivedAt time.Time // when the last part arrived
}

// Deliverer receives the messages the SMSC accepts. An error makes the
// delivery receipt say UNDELIV.
type Deliverer interface {
	Deliver(Message) error
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(Message) error

// Deliver calls f.
func (f DelivererFunc) Deliver(m Message) error { return f(m) }

// Config configures a Server.
type Config struct {
	// Addr to listen on, e.g. "127.0.0.1:0". Default "127.0.0.1:2775".
	Addr string
	// SystemID and Password that an ESME must bind with. Both required.
	SystemID string
	Password string
	// Deliverer receives accepted messages; nil drops them (receipts still say DELIVRD).
	Deliverer Deliverer
	// ResponseDelay delays every submit_sm_resp (a slow SMSC). Submits are
	// processed concurrently, so the delay shows how many are outstanding.
	ResponseDelay time.Duration
	// Logger; nil means slog.Default() at debug level only.
	Logger *slog.Logger
}

// Stats are counters a test can read.
type Stats struct {
	Binds        int64 // successful binds
	BindRefusals int64 // refused binds
	Submits      int64 // submit_sm accepted
	Delivered    int64 // complete messages handed to the Deliverer
	Receipts     int64 // delivery receipts sent
	InFlight     int64 // submit_sm received and not yet answered
	MaxInFlight  int64 // high-water mark of InFlight on any one connection set
}

// Server is a simulated SMSC.
type Server struct {
	cfg Config
	log *slog.Logger

	delay atomic.Int64 // ResponseDelay in ns

	mu      sync.Mutex
	ln      net.Listener
	addr    string // resolved address, kept across Close/Start
	conns   map[*conn]struct{}
	stop    chan struct{}
	running bool
	wg      sync.WaitGroup
	parts   map[string]*partial // concatenation buffers

	nextID   atomic.Uint64
	binds    atomic.Int64
	refused  atomic.Int64
	submits  atomic.Int64
	deliv    atomic.Int64
	receipts atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

// New validates cfg and returns a stopped Server; call Start.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:2775"
	}
	if cfg.SystemID == "" || cfg.Password == "" {
		return nil, errors.New("smsc: SystemID and Password are required")
	}
	if len(cfg.SystemID) > data.SM_SYSID_LEN-1 || len(cfg.Password) > data.SM_PASS_LEN-1 {
		return nil, fmt.Errorf("smsc: SystemID is at most %d characters and Password at most %d (SMPP v3.4)", data.SM_SYSID_LEN-1, data.SM_PASS_LEN-1)
	}
	if cfg.ResponseDelay < 0 {
		return nil, errors.New("smsc: ResponseDelay must not be negative")
	}
	s := &Server{cfg: cfg, addr: cfg.Addr, log: cfg.Logger, parts: map[string]*partial{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.delay.Store(int64(cfg.ResponseDelay))
	return s, nil
}

// Listen is New followed by Start.
func Listen(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start listens and serves. After Close it listens again on the address it
// had (the port the OS picked the first time, if Addr ended in ":0").
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("smsc: already running")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smsc: listen %s: %w", s.addr, err)
	}
	s.ln = ln
	s.addr = ln.Addr().String()
	s.conns = map[*conn]struct{}{}
	s.stop = make(chan struct{})
	s.running = true
	s.wg.Add(1)
	go s.accept(ln, s.stop)
	return nil
}

// Addr is the listening address ("127.0.0.1:port").
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// SetResponseDelay changes the submit_sm_resp delay while running.
func (s *Server) SetResponseDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Binds: s.binds.Load(), BindRefusals: s.refused.Load(), Submits: s.submits.Load(),
		Delivered: s.deliv.Load(), Receipts: s.receipts.Load(),
		InFlight: s.inFlight.Load(), MaxInFlight: s.maxIn.Load(),
	}
}

// Close stops listening, drops every connection and waits for the server's
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return nil
	}
	s.running = false
	close(s.stop)
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.parts = map[string]*partial{}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept(ln net.Listener, stop chan struct{}) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		c := &conn{s: s, nc: nc, stop: stop}
		s.mu.Lock()
		if !s.running {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) newID() string {
	return fmt.Sprintf("%010X", s.nextID.Add(1))
}

type conn struct {
	s    *Server
	nc   net.Conn
	stop chan struct{}
	wmu  sync.Mutex
	bind pdu.BindingType
	// bound is set once, by the read loop, before any goroutine reads it.
	bound bool
	wg    sync.WaitGroup // submit handlers of this connection
}

func (c *conn) write(p pdu.PDU) error {
	buf := pdu.NewBuffer(make([]byte, 0, 64))
	p.Marshal(buf)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(buf.Bytes())
	return err
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer func() {
		c.wg.Wait()
		_ = c.nc.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	r := bufio.NewReader(c.nc)
	for {
		p, err := pdu.Parse(r)
		if err != nil {
			return
		}
		if !c.handle(p) {
			return
		}
	}
}

// handle processes one PDU; false closes the connection.
func (c *conn) handle(p pdu.PDU) bool {
	switch q := p.(type) {
	case *pdu.BindRequest:
		return c.handleBind(q)
	case *pdu.EnquireLink:
		_ = c.write(q.GetResponse())
		return true
	case *pdu.Unbind:
		_ = c.write(q.GetResponse())
		return false
	case *pdu.SubmitSM:
		if !c.bound || c.bind == pdu.Receiver {
			resp := q.GetResponse()
			setStatus(resp, data.ESME_RINVBNDSTS)
			_ = c.write(resp)
			return true
		}
		c.s.submits.Add(1)
		n := c.s.inFlight.Add(1)
		for {
			m := c.s.maxIn.Load()
			if n <= m || c.s.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		c.wg.Add(1)
		go c.handleSubmit(q)
		return true
	case *pdu.DeliverSMResp, *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.GenericNack:
		return true
	default:
		if p.CanResponse() {
			nack := pdu.NewGenericNack()
			nack.SetSequenceNumber(p.GetSequenceNumber())
			setStatus(nack, data.ESME_RINVCMDID)
			_ = c.write(nack)
		}
		return true
	}
}

func setStatus(p pdu.PDU, st data.CommandStatusType) {
	switch q := p.(type) {
	case *pdu.SubmitSMResp:
		q.CommandStatus = st
	case *pdu.GenericNack:
		q.CommandStatus = st
	case *pdu.BindResp:
		q.CommandStatus = st
	}
}

func (c *conn) handleBind(q *pdu.BindRequest) bool {
	resp := pdu.NewBindResp(*q)
	resp.SystemID = "mcfed-smsc"
	switch {
	case c.bound:
		resp.CommandStatus = data.ESME_RALYBND
		_ = c.write(resp)
		return true
	case q.SystemID != c.s.cfg.SystemID:
		resp.CommandStatus = data.ESME_RINVSYSID
	case q.Password != c.s.cfg.Password:
		resp.CommandStatus = data.ESME_RINVPASWD
	}
	if resp.CommandStatus != data.ESME_ROK {
		c.s.refused.Add(1)
		c.s.log.Debug("smsc: bind refused", "system_id", q.SystemID, "status", resp.CommandStatus.String())
		_ = c.write(resp)
		return false
	}
	c.bound, c.bind = true, q.BindingType
	c.s.binds.Add(1)
	return c.write(resp) == nil
}

func (c *conn) handleSubmit(q *pdu.SubmitSM) {
	defer c.wg.Done()
	if d := time.Duration(c.s.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.stop:
			t.Stop()
			c.s.inFlight.Add(-1)
			return
		}
	}
	resp := q.GetResponse().(*pdu.SubmitSMResp)
	to := q.DestAddr.Address()
	dest, toErr := e164.Normalize(to)
	text, err := decode(&q.Message)
	switch {
	case toErr != nil:
		resp.CommandStatus = data.ESME_RINVDSTADR
	case err != nil:
		resp.CommandStatus = data.ESME_RSUBMITFAIL
	default:
		resp.MessageID = c.s.newID()
	}
	c.s.inFlight.Add(-1)
	if c.write(resp) != nil || resp.CommandStatus != data.ESME_ROK {
		return
	}
	part := partIn{id: resp.MessageID, text: text, from: q.SourceAddr.Address(), to: to, dest: dest,
		coding: q.Message.Encoding(), wantReceipt: q.RegisteredDelivery&0x03 != 0}
	if total, num, ref, ok := q.Message.UDH().GetConcatInfo(); ok && total > 1 {
		part.total, part.num, part.ref = int(total), int(num), int(ref)
	}
	if m, parts, complete := c.s.assemble(part); complete {
		c.deliver(m, parts)
	}
}

func decode(sm *pdu.ShortMessage) (string, error) {
	enc := sm.Encoding()
	if enc == nil {
		return "", errors.New("unsupported data_coding")
	}
	return sm.GetMessageWithEncoding(enc)
}

type partIn struct {
	id, text, from, to string
	dest               string // to, normalised: what the Deliverer gets
	coding             data.Encoding
	wantReceipt        bool
	total, num, ref    int
}

type partial struct {
	parts   []*partIn
	got     int
	started time.Time
}

// assemble returns the complete message once every part has arrived.
func (s *Server) assemble(p partIn) (Message, []*partIn, bool) {
	now := time.Now()
	var parts []*partIn
	if p.total <= 1 {
		parts = []*partIn{&p}
	} else {
		key := fmt.Sprintf("%s|%s|%d|%d", p.from, p.to, p.ref, p.total)
		s.mu.Lock()
		// drop stale buffers so a lost part cannot pin memory forever
		for k, b := range s.parts {
			if now.Sub(b.started) > 10*time.Minute {
				delete(s.parts, k)
			}
		}
		b := s.parts[key]
		if b == nil {
			b = &partial{parts: make([]*partIn, p.total), started: now}
			s.parts[key] = b
		}
		if p.num >= 1 && p.num <= p.total && b.parts[p.num-1] == nil {
			b.parts[p.num-1] = &p
			b.got++
		}
		if b.got < p.total {
			s.mu.Unlock()
			return Message{}, nil, false
		}
		delete(s.parts, key)
		s.mu.Unlock()
		parts = b.parts
	}
	var text strings.Builder
	ids := make([]string, len(parts))
	for i, q := range parts {
		text.WriteString(q.text)
		ids[i] = q.id
	}
	var coding byte
	if parts[0].coding != nil {
		coding = parts[0].coding.DataCoding()
	}
	return Message{ID: ids[0], PartIDs: ids, From: p.from, To: p.dest,
		Text: text.String(), Coding: coding, ReceivedAt: now}, parts, true
}

func (c *conn) deliver(m Message, parts []*partIn) {
	stat, errCode := "DELIVRD", "000"
	if d := c.s.cfg.Deliverer; d != nil {
		if err := d.Deliver(m); err != nil {
			stat, errCode = "UNDELIV", "001"
			c.s.log.Debug("smsc: deliverer refused message", "id", m.ID, "err", err)
		}
	}
	c.s.deliv.Add(1)
	if c.bind == pdu.Transmitter {
		return
	}
	now := time.Now()
	for _, p := range parts {
		if !p.wantReceipt {
			continue
		}
		if c.write(receipt(p, stat, errCode, m.ReceivedAt, now)) == nil {
			c.s.receipts.Add(1)
		}
	}
}

// receipt builds the deliver_sm that reports the fate of one part, with the
// de-facto standard text (SMPP v3.4 appendix B) and the receipted_message_id
// and message_state TLVs.
func receipt(p *partIn, stat, errCode string, submitted, done time.Time) pdu.PDU {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = d.SourceAddr.SetAddress(p.to)
	d.SourceAddr.SetTon(data.GSM_TON_INTERNATIONAL)
	d.SourceAddr.SetNpi(data.GSM_NPI_E164)
	_ = d.DestAddr.SetAddress(p.from)
	d.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	dlvrd := "001"
	if stat != "DELIVRD" {
		dlvrd = "000"
	}
	const layout = "0601021504"
	text := fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:",
		p.id, dlvrd, submitted.Format(layout), done.Format(layout), stat, errCode)
	if sm, err := pdu.NewShortMessage(text); err == nil {
		d.Message = sm
	}
	state := byte(2) // DELIVERED
	if stat == "UNDELIV" {
		state = 5
	}
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append([]byte(p.id), 0)})
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{state}})
	return d
}
