// Package mssp is a Mobile Signature Service Provider for `mcfed dev` and
// tests: it serves TS 102 204's MSS_Signature (synchronous and
// asynchronous client-server modes) and MSS_StatusQuery over the REST/JSON
// binding of operator/mss, to the one application provider it is
// configured for, and reaches the SIMs enrolled with it over an OTA link
// (Link; the simulated handset's SIMs in dev) with secured packets
// (operator/ota: ciphered, checksummed, counted per SIM). It verifies each
// SIM's signature with the SIM's public key before answering
// 500 SIGNATURE / 502 VALID_SIGNATURE, and answers the standard codes for
// what went wrong: 401 USER_CANCEL, 402 PIN_NR_BLOCKED, 208
// EXPIRED_TRANSACTION, 209 OTA_ERROR (a packet that fails its checksum,
// either way), 503 INVALID_SIGNATURE, 504 OUTSTANDING_TRANSACTION while
// the SIM has not answered.
//
// A real MSSP is the operator's or a vendor's; this one keeps everything
// in memory.
package mssp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/ota"
)

// Link carries the MSSP's command packets to SIMs (class-2 binary SMS in
// a real network); the SIMs' response packets come back through
// Server.FromSIM.
type Link interface {
	SendToSIM(msisdn string, packet []byte) error
}

// Config configures a Server.
type Config struct {
	// APID and APPassword are the application provider's (the operator's
	// gateway) credentials; requests with others are refused 104.
	APID, APPassword string
	// MSSPID is this MSSP's URI (default "urn:mcfed:mssp:dev").
	MSSPID string
	// Link reaches the SIMs. Required.
	Link Link
	// TimeOut is how long the SIM has when the request gives none
	// (default 2 minutes).
	TimeOut time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Server is the MSSP. Safe for concurrent use.
type Server struct {
	cfg  Config
	mu   sync.Mutex
	sims map[string]*sim
	txns map[string]*txn
	ln   net.Listener
	srv  *http.Server
}

// sim is an enrolled SIM: its signature key's public half and its OTA
// key, with the counters of both directions.
type sim struct {
	publicKey []byte
	key       ota.Key
	sent      uint64            // last counter of a command packet
	received  uint64            // last counter of a response packet accepted
	commands  map[uint64]string // command counter → transaction
}

type txn struct {
	id, msisdn, profile, dtbs string
	status                    int // 504 while outstanding
	detail                    string
	signature                 []byte
	expires                   time.Time
	done                      chan struct{}
}

// New checks cfg and returns a Server (not listening: Listen, or use it
// as an http.Handler).
func New(cfg Config) (*Server, error) {
	if cfg.Link == nil || cfg.APID == "" {
		return nil, errors.New("mssp: Link and APID are required")
	}
	if cfg.MSSPID == "" {
		cfg.MSSPID = "urn:mcfed:mssp:dev"
	}
	if cfg.TimeOut <= 0 {
		cfg.TimeOut = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, sims: map[string]*sim{}, txns: map[string]*txn{}}, nil
}

// Listen serves the REST binding at http://addr/rest/service.
func Listen(addr string, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("mssp: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /rest/service", s)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(s.ln)
	return s, nil
}

// URL is the REST service's URL (after Listen).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/rest/service" }

// Close stops serving; transactions waiting in the synchronous mode end.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// Enrol registers a SIM: its number, its signature key's public half
// (PKIX, DER) and its OTA key. Enrolling a number again replaces its SIM
// (a new card).
func (s *Server) Enrol(msisdn string, publicKey []byte, key ota.Key) error {
	d, err := e164.Normalize(msisdn)
	if err != nil {
		return fmt.Errorf("mssp: %w", err)
	}
	if _, err := mss.ParsePublicKey(publicKey); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sims[d] = &sim{publicKey: append([]byte(nil), publicKey...), key: key, commands: map[uint64]string{}}
	return nil
}

// Command is the payload of a command packet to the SIM applet.
type Command struct {
	Txn  string `json:"txn"`
	DTBS string `json:"dtbs"`
}

// Answers of the SIM applet, in its response packets.
const (
	AnswerSigned         = "signed"
	AnswerCancel         = "cancel"
	AnswerPINBlocked     = "pin_blocked"
	AnswerChecksumFailed = "checksum_failed" // the command packet did not open
)

// Answer is the payload of a response packet from the SIM applet.
type Answer struct {
	// Command is the counter of the command packet answered.
	Command   uint64 `json:"cmd"`
	Txn       string `json:"txn,omitempty"`
	Status    string `json:"status"`
	Signature []byte `json:"signature,omitempty"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req mss.Request
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeFault(w, mss.WrongParam, "the body is not a TS 102 204 JSON request: "+err.Error())
		return
	}
	switch {
	case req.SignatureReq != nil && req.StatusReq == nil:
		if !s.authorised(req.SignatureReq.APInfo) {
			writeFault(w, mss.UnauthorizedAccess, "unknown AP_ID or wrong AP_PWD")
			return
		}
		s.signature(r.Context(), w, req.SignatureReq)
	case req.StatusReq != nil && req.SignatureReq == nil:
		if !s.authorised(req.StatusReq.APInfo) {
			writeFault(w, mss.UnauthorizedAccess, "unknown AP_ID or wrong AP_PWD")
			return
		}
		s.status(w, req.StatusReq)
	default:
		writeFault(w, mss.WrongParam, "want one of MSS_SignatureReq, MSS_StatusReq")
	}
}

func (s *Server) authorised(ap mss.APInfo) bool {
	id := subtle.ConstantTimeCompare([]byte(ap.APID), []byte(s.cfg.APID))
	pwd := subtle.ConstantTimeCompare([]byte(ap.APPwd), []byte(s.cfg.APPassword))
	return id&pwd == 1 && ap.APTransID != ""
}

func (s *Server) signature(ctx context.Context, w http.ResponseWriter, req *mss.SignatureReq) {
	msisdn, err := e164.Normalize(req.MobileUser.MSISDN)
	if err != nil {
		writeFault(w, mss.WrongParam, "MobileUser/MSISDN: "+err.Error())
		return
	}
	if req.SignatureProfile != mss.ProfileClickOK && req.SignatureProfile != mss.ProfilePIN {
		writeFault(w, mss.UnsupportedProfile, req.SignatureProfile)
		return
	}
	if len(req.DataToBeSigned.Data) > 1000 {
		writeFault(w, mss.WrongDataLength, "DataToBeSigned over 1000 bytes")
		return
	}
	if c, err := mss.ParseChallenge(req.DataToBeSigned.Data); err != nil || c.Profile != req.SignatureProfile {
		writeFault(w, mss.InappropriateData, "DataToBeSigned is no SIM applet challenge of this profile")
		return
	}
	if req.MessagingMode != mss.ModeSynch && req.MessagingMode != mss.ModeAsynchClientServer {
		writeFault(w, mss.WrongParam, "MessagingMode: want synch or asynchClientServer")
		return
	}
	timeout := s.cfg.TimeOut
	if req.TimeOut != "" {
		n, err := strconv.Atoi(req.TimeOut)
		if err != nil || n <= 0 || n > 600 {
			writeFault(w, mss.WrongParam, "TimeOut: want 1 to 600 seconds")
			return
		}
		timeout = time.Duration(n) * time.Second
	}
	t := &txn{id: newID(), msisdn: msisdn, profile: req.SignatureProfile, dtbs: req.DataToBeSigned.Data,
		status: mss.OutstandingTransaction, expires: s.cfg.Now().Add(timeout), done: make(chan struct{})}
	s.mu.Lock()
	s.sweepLocked()
	card, ok := s.sims[msisdn]
	if !ok {
		s.mu.Unlock()
		writeFault(w, mss.NoKeyFound, "no SIM applet key is enrolled for this number")
		return
	}
	card.sent++
	counter := card.sent
	card.commands[counter] = t.id
	s.txns[t.id] = t
	payload, _ := json.Marshal(Command{Txn: t.id, DTBS: t.dtbs})
	packet := ota.Seal(card.key, ota.ToSIM, counter, msisdn, payload)
	s.mu.Unlock()
	if err := s.cfg.Link.SendToSIM(msisdn, packet); err != nil {
		s.finish(t, mss.OTAError, "the command could not be sent to the SIM: "+err.Error(), nil)
	}
	s.cfg.Logger.Info("mssp: signature request", "mode", req.MessagingMode, "profile", req.SignatureProfile, "mssp_trans_id", t.id)
	resp := mss.SignatureResp{APInfo: req.APInfo, MSSPInfo: mss.MSSPInfo{MSSPID: mss.MSSPID{URI: s.cfg.MSSPID}},
		MSSPTransID: t.id, MobileUser: req.MobileUser, SignatureProfile: t.profile}
	resp.APInfo.APPwd = ""
	if req.MessagingMode == mss.ModeAsynchClientServer {
		resp.Status = mss.NewStatus(mss.RequestOK)
		writeJSON(w, http.StatusOK, mss.Response{SignatureResp: &resp})
		return
	}
	select {
	case <-t.done:
	case <-time.After(time.Until(t.expires)):
		s.finish(t, mss.ExpiredTransaction, "the SIM did not answer in time", nil)
	case <-ctx.Done():
		return
	}
	s.answer(w, t, resp, false)
}

func (s *Server) status(w http.ResponseWriter, req *mss.StatusReq) {
	s.mu.Lock()
	t, ok := s.txns[req.MSSPTransID]
	s.mu.Unlock()
	if !ok {
		writeFault(w, mss.WrongParam, "unknown MSSP_TransID")
		return
	}
	if !s.cfg.Now().Before(t.expires) {
		s.finish(t, mss.ExpiredTransaction, "the SIM did not answer in time", nil)
	}
	resp := mss.SignatureResp{APInfo: req.APInfo, MSSPInfo: mss.MSSPInfo{MSSPID: mss.MSSPID{URI: s.cfg.MSSPID}},
		MSSPTransID: t.id, MobileUser: mss.MobileUser{MSISDN: "+" + t.msisdn}, SignatureProfile: t.profile}
	resp.APInfo.APPwd = ""
	s.answer(w, t, resp, true)
}

// answer writes how transaction t stands: its signature, 504 while the
// SIM has not answered, or the fault of why there is no signature.
func (s *Server) answer(w http.ResponseWriter, t *txn, resp mss.SignatureResp, query bool) {
	s.mu.Lock()
	status, detail, sig := t.status, t.detail, t.signature
	s.mu.Unlock()
	switch status {
	case mss.OutstandingTransaction:
		resp.Status = mss.NewStatus(status)
	case mss.Signature:
		resp.Status = mss.NewStatus(mss.Signature)
		if query {
			resp.Status = mss.NewStatus(mss.ValidSignature) // verified here
		}
		resp.MSSSignature = &mss.MSSSignature{Base64Signature: base64.StdEncoding.EncodeToString(sig)}
	default:
		writeFault(w, status, detail)
		return
	}
	out := mss.Response{SignatureResp: &resp}
	if query {
		out = mss.Response{StatusResp: &resp}
	}
	writeJSON(w, http.StatusOK, out)
}

// FromSIM takes a response packet from the SIM of msisdn (an MO SMS).
func (s *Server) FromSIM(msisdn string, packet []byte) {
	d, err := e164.Normalize(msisdn)
	if err != nil {
		return
	}
	s.mu.Lock()
	card, ok := s.sims[d]
	if !ok {
		s.mu.Unlock()
		return
	}
	counter, payload, err := ota.Open(card.key, ota.FromSIM, card.received, d, packet)
	var a Answer
	if err == nil {
		card.received = counter
		err = json.Unmarshal(payload, &a)
	}
	if err != nil {
		// A response that does not open cannot say which command it
		// answers: every transaction outstanding on this SIM fails.
		var open []*txn
		for c, id := range card.commands {
			if t := s.txns[id]; t != nil {
				open = append(open, t)
			}
			delete(card.commands, c)
		}
		s.mu.Unlock()
		s.cfg.Logger.Warn("mssp: a SIM's response packet is refused", "err", err)
		if errors.Is(err, ota.ErrReplay) {
			return // an old packet again: the transactions stand
		}
		for _, t := range open {
			s.finish(t, mss.OTAError, "the SIM's response packet failed its checksum", nil)
		}
		return
	}
	id := card.commands[a.Command]
	delete(card.commands, a.Command)
	t := s.txns[id]
	pub := card.publicKey
	s.mu.Unlock()
	if t == nil || (a.Txn != "" && a.Txn != id) {
		return
	}
	switch a.Status {
	case AnswerSigned:
		if err := mss.Verify(pub, []byte(t.dtbs), a.Signature); err != nil {
			s.finish(t, mss.InvalidSignature, "the SIM's signature does not verify with its enrolled key", nil)
			return
		}
		s.finish(t, mss.Signature, "", a.Signature)
	case AnswerCancel:
		s.finish(t, mss.UserCancel, "the person cancelled on the phone", nil)
	case AnswerPINBlocked:
		s.finish(t, mss.PINNrBlocked, "the SIM's PIN is blocked", nil)
	case AnswerChecksumFailed:
		s.finish(t, mss.OTAError, "the SIM refused the command packet: its checksum failed", nil)
	default:
		s.finish(t, mss.InternalError, "the SIM answered "+a.Status, nil)
	}
}

// finish decides t, once.
func (s *Server) finish(t *txn, status int, detail string, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.status != mss.OutstandingTransaction {
		return
	}
	t.status, t.detail, t.signature = status, detail, sig
	close(t.done)
}

// sweepLocked forgets transactions decided or expired long ago.
func (s *Server) sweepLocked() {
	cutoff := s.cfg.Now().Add(-10 * time.Minute)
	for id, t := range s.txns {
		if t.expires.Before(cutoff) {
			delete(s.txns, id)
		}
	}
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "M" + hex.EncodeToString(b)
}

func writeFault(w http.ResponseWriter, code int, detail string) {
	status := http.StatusInternalServerError
	if code < 200 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, mss.Response{Fault: mss.NewFault(code, detail)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
