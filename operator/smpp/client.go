package smpp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/mcfed/mcfed/internal/e164"
)

// Message states as delivery receipts spell them (SMPP v3.4 appendix B),
// plus StateEnroute for a message the SMSC accepted and has not reported on.
const (
	StateEnroute   = "ENROUTE"
	StateDelivered = "DELIVRD"
	StateUndeliv   = "UNDELIV"
	StateExpired   = "EXPIRED"
	StateRejected  = "REJECTD"
)

// Receipt is one delivery receipt (deliver_sm with esm_class 0x04).
type Receipt struct {
	PartID    string    // SMSC message id of the part it reports on
	MessageID string    // the id Submit returned for the whole message ("" if unknown)
	State     string    // DELIVRD, UNDELIV, EXPIRED, REJECTD, ...
	Err       string    // err: field of the receipt text
	Text      string    // the receipt text as received
	At        time.Time // when it arrived
}

// MessageStatus is what the client knows about one submitted message.
type MessageStatus struct {
	ID          string   // id Submit returned (the first part's SMSC id)
	To          string   // destination, E.164 digits
	PartIDs     []string // SMSC id of each part
	SubmittedAt time.Time
	State       string // ENROUTE until receipts say otherwise; DELIVRD once every part is delivered
	Delivered   int    // parts with a DELIVRD receipt
	UpdatedAt   time.Time
}

// State is the client's connection state.
type State struct {
	Addr       string
	Connected  bool
	Since      time.Time // when the current state began
	LastError  error     // last connection or bind error (nil after a clean bind)
	Reconnects int       // successful binds after the first
}

// Client is a bound (or reconnecting) connection to an SMSC. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	window chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	sess   *session
	state  State
	binds  int
	closed bool
	msgs   map[string]*message // by the id Submit returned
	byPart map[string]*message // by part id
	order  []string            // msgs in submission order, for eviction
}

// maxTracked bounds the messages whose status the client remembers, on
// top of Config.TrackFor.
const maxTracked = 10000

type message struct {
	status MessageStatus
	states []string // receipt state per part
}

type session struct {
	s       *gosmpp.Session
	closed  chan struct{}
	once    sync.Once
	mu      sync.Mutex
	pending map[int32]*pending
	err     error // why it closed, if known
}

type pending struct {
	ch  chan result
	msg *message
	idx int
}

type result struct {
	id  string
	err error
}

func (s *session) markClosed(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.closed)
	})
}

func (s *session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *session) take(seq int32) *pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[seq]
	delete(s.pending, seq)
	return p
}

func newClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Client{
		cfg:    cfg,
		window: make(chan struct{}, cfg.Window),
		done:   make(chan struct{}),
		state:  State{Addr: cfg.Addr, Since: time.Now()},
		msgs:   map[string]*message{},
		byPart: map[string]*message{},
	}, nil
}

// New validates cfg and returns a client that binds in the background and
// keeps reconnecting; it does not fail when the SMSC is down (see State).
func New(cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	c.wg.Add(2)
	go c.run(nil)
	go c.forgetLoop()
	return c, nil
}

// Dial validates cfg and binds once before returning: an unreachable SMSC or
// a refused bind (*BindError) is returned as an error. After that the client
// reconnects by itself.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	type res struct {
		s   *session
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.connect()
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		c.setState(r.s, nil)
		c.wg.Add(2)
		go c.run(r.s)
		go c.forgetLoop()
		return c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				_ = r.s.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Close unbinds and stops reconnecting. Submits in progress fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// Connected reports whether the client is bound now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Connected
}

// State returns the connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// LastError is the last connection or bind error, nil while bound.
func (c *Client) LastError() error { return c.State().LastError }

// Status returns what is known about a message Submit sent.
func (c *Client) Status(messageID string) (MessageStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs[messageID]
	if m == nil {
		return MessageStatus{}, false
	}
	st := m.status
	st.PartIDs = append([]string(nil), st.PartIDs...)
	return st, true
}

// run keeps the client bound until Close.
func (c *Client) run(first *session) {
	defer c.wg.Done()
	backoff := c.cfg.ReconnectMin
	s := first
	for {
		if s == nil {
			var err error
			s, err = c.connect()
			if err != nil {
				c.setState(nil, err)
				if !c.sleep(backoff) {
					return
				}
				backoff = min(backoff*2, c.cfg.ReconnectMax)
				continue
			}
			if !c.setState(s, nil) { // closed meanwhile
				_ = s.s.Close()
				return
			}
		}
		backoff = c.cfg.ReconnectMin
		select {
		case <-s.closed:
			s.mu.Lock()
			err := s.err
			s.mu.Unlock()
			if err == nil {
				err = errors.New("connection to SMSC lost")
			}
			_ = s.s.Close()
			c.setState(nil, err)
			s = nil
			if !c.sleep(backoff) {
				return
			}
		case <-c.done:
			_ = s.s.Close()
			s.markClosed(ErrClosed)
			c.setState(nil, ErrClosed)
			return
		}
	}
}

// sleep waits d with ±20% jitter; false if the client was closed.
func (c *Client) sleep(d time.Duration) bool {
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// setState records a bind (s != nil) or its loss; false if the client is closed.
func (c *Client) setState(s *session, err error) bool {
	c.mu.Lock()
	if c.closed && s != nil {
		c.mu.Unlock()
		return false
	}
	prev := c.state.Connected
	c.sess = s
	now := c.state.Connected != (s != nil)
	c.state.Connected = s != nil
	if now {
		c.state.Since = time.Now()
	}
	c.state.LastError = err
	if s != nil {
		c.binds++
		c.state.Reconnects = c.binds - 1
	}
	st := c.state
	c.mu.Unlock()
	if cb := c.cfg.OnStateChange; cb != nil && prev != st.Connected {
		cb(st)
	}
	return true
}

func (c *Client) connect() (*session, error) {
	cfg := c.cfg
	s := &session{closed: make(chan struct{}), pending: map[int32]*pending{}}
	dialer := func(addr string) (net.Conn, error) {
		nc, err := net.DialTimeout("tcp", addr, cfg.DialTimeout)
		if err == nil {
			// bounds the bind; gosmpp sets its own deadlines afterwards
			_ = nc.SetDeadline(time.Now().Add(cfg.DialTimeout))
			nc = &guardedConn{Conn: nc}
		}
		return nc, err
	}
	auth := gosmpp.Auth{SMSC: cfg.Addr, SystemID: cfg.SystemID, Password: cfg.Password, SystemType: cfg.SystemType}
	var conn gosmpp.Connector
	if cfg.Bind == BindTransmitter {
		conn = gosmpp.TXConnector(dialer, auth)
	} else {
		conn = gosmpp.TRXConnector(dialer, auth)
	}
	settings := gosmpp.Settings{
		EnquireLink:  cfg.EnquireLink,
		ReadTimeout:  2*cfg.EnquireLink + cfg.DialTimeout,
		WriteTimeout: cfg.DialTimeout,
		OnAllPDU:     c.onPDU(s),
		OnReceivingError: func(err error) {
			s.markClosed(fmt.Errorf("reading from SMSC: %w", err))
		},
		OnSubmitError: func(_ pdu.PDU, err error) {
			s.markClosed(fmt.Errorf("writing to SMSC: %w", err))
		},
		OnClosed: func(st gosmpp.State) {
			s.markClosed(fmt.Errorf("connection to SMSC closed (%s)", st.String()))
		},
	}
	gs, err := gosmpp.NewSession(conn, settings, 0)
	if err != nil {
		var be gosmpp.BindError
		if errors.As(err, &be) {
			return nil, &BindError{Addr: cfg.Addr, Status: uint32(be.CommandStatus), Name: be.CommandStatus.String(), Desc: be.CommandStatus.Desc()}
		}
		return nil, fmt.Errorf("smpp: connect to SMSC %s: %w", cfg.Addr, err)
	}
	s.s = gs
	return s, nil
}

// onPDU handles every PDU the SMSC sends on session s.
func (c *Client) onPDU(s *session) gosmpp.AllPDUCallback {
	return func(p pdu.PDU) (pdu.PDU, bool) {
		switch q := p.(type) {
		case *pdu.SubmitSMResp:
			if pe := s.take(q.SequenceNumber); pe != nil {
				if q.CommandStatus != data.ESME_ROK {
					pe.ch <- result{err: statusError(q.CommandStatus)}
				} else {
					c.registerPart(pe.msg, pe.idx, q.MessageID)
					pe.ch <- result{id: q.MessageID}
				}
			}
		case *pdu.GenericNack:
			if pe := s.take(q.SequenceNumber); pe != nil {
				pe.ch <- result{err: statusError(q.CommandStatus)}
			}
		case *pdu.DeliverSM:
			if q.EsmClass&0x3C == data.SM_SMSC_DLV_RCPT_TYPE {
				c.onReceipt(q)
			}
			return q.GetResponse(), false
		case *pdu.EnquireLink:
			return q.GetResponse(), false
		case *pdu.Unbind:
			return q.GetResponse(), true
		case *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.DeliverSMResp:
		default:
			if p.CanResponse() {
				nack := pdu.NewGenericNack()
				nack.SetSequenceNumber(p.GetSequenceNumber())
				nack.(*pdu.GenericNack).CommandStatus = data.ESME_RINVCMDID
				return nack, false
			}
		}
		return nil, false
	}
}

func statusError(st data.CommandStatusType) error {
	return &StatusError{Status: uint32(st), Name: st.String(), Desc: st.Desc()}
}

func (c *Client) registerPart(m *message, idx int, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.status.PartIDs[idx] = id
	m.status.UpdatedAt = time.Now()
	c.byPart[id] = m
	if idx != 0 {
		return
	}
	m.status.ID = id
	c.msgs[id] = m
	c.order = append(c.order, id)
	c.forgetLocked(time.Now())
}

// forgetLocked drops the statuses of messages submitted more than TrackFor
// before now, and the oldest past maxTracked. The caller holds c.mu.
func (c *Client) forgetLocked(now time.Time) {
	for len(c.order) > 0 {
		old := c.msgs[c.order[0]]
		if len(c.order) <= maxTracked && old != nil && now.Sub(old.status.SubmittedAt) < c.cfg.TrackFor {
			return
		}
		delete(c.msgs, c.order[0])
		if old != nil {
			for _, p := range old.status.PartIDs {
				delete(c.byPart, p)
			}
		}
		c.order = c.order[1:]
		if len(c.order) == 0 {
			// Let the arrays go: a map keeps the room its busiest
			// moment needed however many entries it has left.
			c.order, c.msgs, c.byPart = nil, map[string]*message{}, map[string]*message{}
		}
	}
}

// forgetLoop forgets expired statuses when no new message comes to do it,
// until Close.
func (c *Client) forgetLoop() {
	defer c.wg.Done()
	t := time.NewTicker(min(c.cfg.TrackFor/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.forgetLocked(now)
			c.mu.Unlock()
		}
	}
}

func (c *Client) onReceipt(d *pdu.DeliverSM) {
	text, _ := d.Message.GetMessage()
	r := parseReceipt(text)
	if f, ok := d.OptionalParameters[pdu.TagReceiptedMessageID]; ok && f.String() != "" {
		r.PartID = f.String()
	}
	r.At = time.Now()
	c.mu.Lock()
	if m := c.byPart[r.PartID]; m != nil {
		r.MessageID = m.status.ID
		for i, id := range m.status.PartIDs {
			if id == r.PartID {
				m.states[i] = strings.Clone(r.State) // not the receipt's whole text
			}
		}
		m.status.Delivered, m.status.State = 0, StateEnroute
		for _, st := range m.states {
			if st == StateDelivered {
				m.status.Delivered++
			} else if st != "" && st != StateEnroute && st != "ACCEPTD" {
				m.status.State = st
			}
		}
		if m.status.Delivered == len(m.states) {
			m.status.State = StateDelivered
		}
		m.status.UpdatedAt = r.At
	}
	c.mu.Unlock()
	if cb := c.cfg.OnReceipt; cb != nil {
		cb(r)
	}
}

// parseReceipt reads "id:X sub:001 dlvrd:001 submit date:... done date:... stat:DELIVRD err:000 text:...".
func parseReceipt(text string) Receipt {
	r := Receipt{Text: text}
	field := func(key string) string {
		i := strings.Index(text, key)
		if i < 0 {
			return ""
		}
		v := text[i+len(key):]
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		return v
	}
	r.PartID = field("id:")
	r.State = strings.ToUpper(field("stat:"))
	r.Err = field("err:")
	return r
}

func (c *Client) notConnected(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if cause == nil {
		cause = c.state.LastError
	}
	since := time.Time{}
	if !c.state.Connected {
		since = c.state.Since
	}
	return &NotConnectedError{Addr: c.cfg.Addr, Since: since, Cause: cause}
}

// normalize gives the digits the PDU carries (TON international, NPI
// E.164: no '+'); errors match ErrBadAddress and wrap the *e164.Error.
func normalize(to string) (string, error) {
	d, err := e164.Normalize(to)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadAddress, err)
	}
	return d, nil
}

// Submit sends text to the E.164 number to and returns the SMSC message id
// (of the first part, for a long text). It waits for a free window slot and
// for each submit_sm_resp, honouring ctx and SubmitTimeout. While the client
// is not bound it fails at once with an error matching ErrNotConnected.
func (c *Client) Submit(ctx context.Context, to, text string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dest, err := normalize(to)
	if err != nil {
		return "", err
	}
	parts, err := encodeParts(text, c.cfg.MaxParts)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	s, closed := c.sess, c.closed
	c.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if s == nil || s.isClosed() {
		return "", c.notConnected(nil)
	}
	m := &message{
		status: MessageStatus{To: dest, PartIDs: make([]string, len(parts)), SubmittedAt: time.Now(), State: StateEnroute},
		states: make([]string, len(parts)),
	}
	var first string
	for i, sm := range parts {
		p := pdu.NewSubmitSM().(*pdu.SubmitSM)
		p.SourceAddr = pdu.NewAddressWithTonNpi(c.cfg.SourceTON, c.cfg.SourceNPI)
		_ = p.SourceAddr.SetAddress(c.cfg.SourceAddr)
		p.DestAddr = pdu.NewAddressWithTonNpi(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164)
		_ = p.DestAddr.SetAddress(dest)
		p.Message = sm
		if len(parts) > 1 {
			p.EsmClass |= data.SM_UDH_GSM
		}
		if c.cfg.Bind == BindTransceiver {
			p.RegisteredDelivery = 1 // receipt on success and failure
		}
		id, err := c.submitPart(ctx, s, p, m, i)
		if err != nil {
			if len(parts) > 1 {
				return "", fmt.Errorf("smpp: part %d of %d: %w", i+1, len(parts), err)
			}
			return "", err
		}
		if i == 0 {
			first = id
		}
	}
	return first, nil
}

func (c *Client) submitPart(ctx context.Context, s *session, p *pdu.SubmitSM, m *message, idx int) (string, error) {
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-s.closed:
		return "", c.notConnected(nil)
	case <-c.done:
		return "", ErrClosed
	}
	defer func() { <-c.window }()

	pe := &pending{ch: make(chan result, 1), msg: m, idx: idx}
	s.mu.Lock()
	seq := p.SequenceNumber
	s.pending[seq] = pe
	s.mu.Unlock()
	defer s.take(seq)
	if s.isClosed() {
		return "", c.notConnected(nil)
	}
	if err := s.s.Transmitter().Submit(p); err != nil {
		return "", c.notConnected(err)
	}
	t := time.NewTimer(c.cfg.SubmitTimeout)
	defer t.Stop()
	select {
	case r := <-pe.ch:
		return r.id, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
		return "", ErrSubmitTimeout
	case <-s.closed:
		return "", c.notConnected(errors.New("connection lost while waiting for submit_sm_resp"))
	case <-c.done:
		return "", ErrClosed
	}
}
