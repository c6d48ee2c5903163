package raft

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"

	"github.com/mcfed/mcfed/registry"
)

// With TLS, a Raft connection is a member talking to a member: the peer's
// certificate, which the federation's CA signed, must also be the one the
// registry bound to a server of the Raft configuration at its join (its
// node credential's Certificate), and name that server's id. The CA alone
// is not enough: it signed the certificates of removed nodes too, and may
// sign others. A connection accepted is checked against the certificate's
// names; a connection dialled against the server the address belongs to in
// the configuration, so a hijacked address is noticed. Without TLS there is
// no identity to check, and none of this applies.
//
// Where the expected certificate comes from, in order:
//   - a member's word, fresh: when a peer's certificate is not one this
//     node knows, it asks a member (GET /v1/internal/members, over the
//     admin API's TLS, with its own node credential; the member it joined
//     through, else the members it knows) for the servers of its
//     configuration and their certificates, and trusts the answer while
//     its own configuration stays as it was (see below). A joining node needs it: its configuration and
//     registry are empty when the leader first connects (the leader
//     commits the node's credential, then adds it as a voter, and in a
//     one-node cluster that change needs the new node's vote). So does a
//     node that was away while a member joined, when that member leads;
//   - the registry's node credential;
//   - the node's pins (peers.json in its data directory): the certificates
//     it verified before, so that a restart without a snapshot (whose
//     registry is empty until the leader tells it the commit index) still
//     knows the members it knew.
//
// Membership is the Raft configuration (its latest entry, committed or not,
// as Raft itself uses it) and a member's word, which counts only while the
// configuration is the one it was given in and for vouchValidity: a
// removed node is refused once its removal is in the configuration. A peer
// is refused at the TLS handshake, counted (Metrics.RefusedPeers) and
// logged once at WARN with the reason.

// Peer is a server of the Raft configuration with the certificate its node
// credential is bound to, as a member vouches for it.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr,omitempty"`
	AdminURL string `json:"admin_url,omitempty"`
	// Certificate is the fingerprint the registry bound the node's
	// credential to; "" when it joined without TLS (then a certificate
	// naming it is enough, as on the internal endpoints).
	Certificate string `json:"certificate"`
	Voter       bool   `json:"voter"`
	// byName: taken by its name only while the node upgrades (upgrade).
	byName bool
}

// pathMembers is where a member tells another the servers of its
// configuration and their certificates.
const pathMembers = "/v1/internal/members"

// peersFile holds the pins.
const peersFile = "peers.json"

// Bounds on the work a refused peer can cause: how often the node asks a
// member for its members, how long it takes the answer for, how long a
// connection waits for the node's Raft to start, how long the node waits
// for an answer, how many members it asks, and how many distinct refusals
// it logs.
const (
	vouchInterval = time.Second
	vouchValidity = 10 * time.Second
	startWait     = 10 * time.Second
	vouchTimeout  = 3 * time.Second
	vouchSources  = 4
	maxWarned     = 1024
)

// PeerRefusal says why a Raft peer was refused.
type PeerRefusal struct {
	Peer   string // the names its certificate carries
	Where  string // the address it called from, or the one dialled
	Reason string
}

func (e *PeerRefusal) Error() string {
	return "raft peer " + e.Peer + " at " + e.Where + " refused: " + e.Reason
}

type peerTrust struct {
	node *Node
	log  hclog.Logger
	path string
	// started is closed once node.raft is set: a peer that connects
	// before waits for it (a restarted node's listener opens first).
	started chan struct{}
	refused atomic.Uint64
	// joinBase is the admin URL the node joined through, a source of
	// vouchers while it has no members of its own to ask.
	joinBase atomic.Pointer[string]
	// hasFile: peers.json existed when the node opened. upgrading: it did
	// not, yet the node has Raft state (see upgrade).
	hasFile   bool
	upgrading atomic.Bool

	mu        sync.Mutex
	pins      map[string]Peer
	vouched   map[string]Peer
	vouchedAt time.Time
	// vouchedIn is the configuration the word was given in: a change of
	// configuration (a removal among them) voids it.
	vouchedIn string
	warned    map[string]bool
	// vouchMu makes one request for the members at a time; lastVouch
	// spaces them, and lastAnswer says whether the last one was answered.
	vouchMu    sync.Mutex
	lastVouch  time.Time
	lastAnswer bool
}

func newPeerTrust(n *Node, log hclog.Logger) (*peerTrust, error) {
	t := &peerTrust{node: n, log: log, path: filepath.Join(n.cfg.DataDir, peersFile),
		started: make(chan struct{}), pins: map[string]Peer{}, vouched: map[string]Peer{}, warned: map[string]bool{}}
	b, err := os.ReadFile(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err == nil {
		t.hasFile = true
		err = json.Unmarshal(b, &t.pins)
	}
	if err != nil {
		return nil, fmt.Errorf("raft peers %s: %w", t.path, err)
	}
	return t, nil
}

// upgrade prepares a node whose data directory has no peers.json. A new
// node writes an empty one. A node with Raft state but none was last run
// by a build before this check: it has pinned nobody, and its registry is
// empty until the leader says how far to apply (without a snapshot), so it
// could not tell any member from a stranger and would never catch up.
// Until it has caught up once it takes members of its configuration by a
// certificate naming them (as every build before did, and only where its
// registry holds no credential to say otherwise); then it pins them all.
func (t *peerTrust) upgrade(existing bool) error {
	if t.hasFile {
		return nil
	}
	if existing {
		t.upgrading.Store(true)
		t.log.Warn("no " + peersFile + ": this data directory predates Raft peers' certificate checks; " +
			"members are taken by the names their certificates carry until the node has caught up")
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.save()
}

// finishUpgrade waits for the upgrading node to catch up, then pins every
// member; it gives up when the node closes (stop).
func (t *peerTrust) finishUpgrade(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for t.upgrading.Load() {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if t.node.CaughtUp() {
			t.upgraded()
		}
	}
}

// stopper is closed when the node closes.
type stopper chan struct{}

func (s stopper) Close() error {
	close(s)
	return nil
}

// upgraded pins every member once the upgrading node has caught up.
func (t *peerTrust) upgraded() {
	if !t.upgrading.CompareAndSwap(true, false) {
		return
	}
	for _, m := range t.node.Peers() {
		t.pin(m)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.save(); err != nil {
		t.log.Error("saving the raft peers' certificates", "err", err)
	}
}

// accepting is the listener's TLS config for a connection from remote.
func (t *peerTrust) accepting(base *tls.Config, remote string) *tls.Config {
	c := base.Clone()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			host, _, _ := net.SplitHostPort(remote)
			return t.refuse(&PeerRefusal{Peer: "(none) from " + host, Where: remote, Reason: "no client certificate"}, "")
		}
		return t.verify(cs.PeerCertificates[0], "", remote)
	}
	return c
}

// dialling is the TLS config for a connection to address: the server
// there must be the one the configuration puts there.
func (t *peerTrust) dialling(base *tls.Config, address string) *tls.Config {
	c := base.Clone()
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id := t.serverAt(address)
		if id == "" || len(cs.PeerCertificates) == 0 {
			return t.refuse(&PeerRefusal{Peer: "(not dialled)", Where: address, Reason: "the address is no server's in the Raft configuration"}, "")
		}
		return t.verify(cs.PeerCertificates[0], id, address)
	}
	return c
}

// verify accepts cert as the member want ("" on accept: any member the
// certificate names), asking a member for vouchers once when this node
// does not know the certificate.
func (t *peerTrust) verify(cert *x509.Certificate, want, where string) error {
	err := t.bound(cert, want)
	if err != nil && t.vouch() {
		err = t.bound(cert, want)
	}
	if err != nil {
		names := append([]string{cert.Subject.CommonName}, cert.DNSNames...)
		return t.refuse(&PeerRefusal{Peer: strings.Join(names, ","), Where: where, Reason: err.Error()}, registry.CertificateFingerprint(cert.Raw))
	}
	return nil
}

// bound is nil when cert is bound to a member it names (want, if given:
// the server dialled). A connection accepted must come from a voter: a
// non-voter never calls (only a leader sends entries, only a candidate asks
// for votes), and one that did would be a node trying to lead that the
// consortium chose not to trust with it.
func (t *peerTrust) bound(cert *x509.Certificate, want string) error {
	if !t.ready() {
		return errors.New("the node is not running")
	}
	candidates := append([]string{cert.Subject.CommonName}, cert.DNSNames...)
	if want != "" {
		if !certificateNames(cert, want) {
			return fmt.Errorf("the certificate does not name %s, the server the configuration puts there", want)
		}
		candidates = []string{want}
	}
	fp := registry.CertificateFingerprint(cert.Raw)
	var why error = errors.New("the certificate names no server of the Raft configuration")
	for _, id := range candidates {
		member, voter := t.member(id)
		if id == "" || !member {
			continue
		}
		m, ok := t.expected(id)
		switch {
		case want == "" && !voter:
			why = fmt.Errorf("member %s is a non-voter, which never calls a member", id)
		case !ok:
			why = fmt.Errorf("no certificate is bound to member %s here", id)
		case m.Certificate != "" && subtle.ConstantTimeCompare([]byte(m.Certificate), []byte(fp)) != 1:
			why = fmt.Errorf("the certificate is not the one bound to member %s", id)
		default:
			t.pin(m)
			return nil
		}
	}
	return why
}

// ready waits a while for the node's Raft to start.
func (t *peerTrust) ready() bool {
	timer := time.NewTimer(startWait)
	defer timer.Stop()
	select {
	case <-t.started:
		return true
	case <-timer.C:
		return false
	}
}

// member reports whether id is a server of the configuration, or one a
// member vouched for lately, and whether it votes. A non-voter of this
// node's configuration that a member lately said votes is taken for a
// voter: this node was away while it was promoted (raft/voters.go), and
// learns of it only from the leader, which may be that node.
func (t *peerTrust) member(id string) (member, voter bool) {
	for _, s := range t.servers() {
		if string(s.ID) == id {
			if s.Suffrage != hraft.Voter {
				m, ok := t.vouchedFor(id)
				return true, ok && m.Voter
			}
			return true, true
		}
	}
	m, ok := t.vouchedFor(id)
	return ok, m.Voter
}

// vouchedFor is what a member said of id, if it said it lately.
func (t *peerTrust) vouchedFor(id string) (Peer, bool) {
	conf := t.configuration()
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.vouchedAt) > vouchValidity || conf != t.vouchedIn {
		return Peer{}, false
	}
	m, ok := t.vouched[id]
	return m, ok
}

// configuration identifies the servers of the latest configuration.
func (t *peerTrust) configuration() string {
	var b strings.Builder
	for _, s := range t.servers() {
		fmt.Fprintf(&b, "%s@%s/%d;", s.ID, s.Address, s.Suffrage)
	}
	return b.String()
}

func (t *peerTrust) servers() []hraft.Server {
	f := t.node.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

// serverAt is the id of the server at address in the configuration.
func (t *peerTrust) serverAt(address string) string {
	if !t.ready() {
		return ""
	}
	for _, s := range t.servers() {
		if string(s.Address) == address {
			return string(s.ID)
		}
	}
	return ""
}

// expected is what this node knows of member id's certificate.
func (t *peerTrust) expected(id string) (Peer, bool) {
	if v, ok := t.vouchedFor(id); ok {
		return v, true
	}
	t.mu.Lock()
	p, pinned := t.pins[id]
	t.mu.Unlock()
	reg := t.node.Registry()
	if c := reg.Credential(registry.NodeCredentialID(id)); c != nil {
		if c.Revoked {
			return Peer{}, false
		}
		m := Peer{ID: id, Certificate: c.Certificate}
		if rec := reg.Node(id); rec != nil {
			m.AdminURL, m.RaftAddr = rec.AdminURL, rec.RaftAddr
		}
		return m, true
	}
	if !pinned && t.upgrading.Load() {
		if !t.node.CaughtUp() {
			return Peer{ID: id, byName: true}, true
		}
		t.upgraded()
	}
	return p, pinned
}

// pin remembers m's certificate in the data directory, if it is new.
func (t *peerTrust) pin(m Peer) {
	if m.byName {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.pins[m.ID]; ok && old.Certificate == m.Certificate && (m.AdminURL == "" || old.AdminURL == m.AdminURL) {
		return
	}
	if m.AdminURL == "" {
		m.AdminURL = t.pins[m.ID].AdminURL
	}
	t.pins[m.ID] = m
	if err := t.save(); err != nil {
		t.log.Error("saving the raft peers' certificates", "err", err)
	}
}

func (t *peerTrust) save() error {
	b, err := json.Marshal(t.pins)
	if err != nil {
		return err
	}
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, t.path)
}

// refuse counts and logs a refusal, once per peer and reason.
func (t *peerTrust) refuse(r *PeerRefusal, fingerprint string) error {
	t.refused.Add(1)
	// The peer's names, not its address: each of its attempts comes from
	// another port.
	key := r.Peer + "\x00" + fingerprint + "\x00" + r.Reason
	t.mu.Lock()
	first := !t.warned[key] && len(t.warned) < maxWarned
	if first {
		t.warned[key] = true
	}
	t.mu.Unlock()
	if first {
		t.log.Warn("refused a raft peer", "peer", r.Peer, "address", r.Where, "certificate", fingerprint, "reason", r.Reason)
	}
	return r
}

// setVouched replaces the members vouched for.
func (t *peerTrust) setVouched(ms []Peer) {
	conf := t.configuration()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.vouched, t.vouchedAt, t.vouchedIn = make(map[string]Peer, len(ms)), time.Now(), conf
	for _, m := range ms {
		t.vouched[m.ID] = m
	}
}

// vouch asks a member for its members, at most once per vouchInterval,
// and reports whether one answered (now, or a moment ago: Raft opens its
// connections to a peer side by side, and the second waits for the first's
// answer).
func (t *peerTrust) vouch() bool {
	if !t.ready() {
		return false
	}
	t.vouchMu.Lock()
	defer t.vouchMu.Unlock()
	if time.Since(t.lastVouch) < vouchInterval {
		return t.lastAnswer
	}
	t.lastVouch, t.lastAnswer = time.Now(), false
	for _, src := range t.vouchSources() {
		ctx, cancel := context.WithTimeout(context.Background(), vouchTimeout)
		var out struct {
			Members []Peer `json:"members"`
		}
		err := t.node.call(ctx, http.MethodGet, src+pathMembers, "", nil, t.node.Self(), &out)
		cancel()
		if err == nil {
			t.setVouched(out.Members)
			t.lastAnswer = true
			return true
		}
		t.log.Warn("asking a member for the members", "member", src, "err", err)
	}
	return false
}

// vouchSources are the admin URLs to ask: the one the node joined
// through, then the members it knows.
func (t *peerTrust) vouchSources() []string {
	var out []string
	if b := t.joinBase.Load(); b != nil {
		out = append(out, strings.TrimRight(*b, "/"))
	}
	t.mu.Lock()
	pins := maps.Clone(t.pins)
	t.mu.Unlock()
	for _, s := range t.servers() {
		id := string(s.ID)
		if id == t.node.cfg.ID || len(out) == vouchSources {
			continue
		}
		url := pins[id].AdminURL
		if rec := t.node.Registry().Node(id); rec != nil {
			url = rec.AdminURL
		}
		if url != "" {
			out = append(out, strings.TrimRight(url, "/"))
		}
	}
	return out
}

// Peers are the servers of this node's configuration whose node
// credential its registry holds, with the certificates they are bound to.
func (n *Node) Peers() []Peer {
	reg := n.Registry()
	var out []Peer
	for _, s := range n.peers.servers() {
		id := string(s.ID)
		c := reg.Credential(registry.NodeCredentialID(id))
		if c == nil || c.Revoked {
			continue
		}
		m := Peer{ID: id, RaftAddr: string(s.Address), Certificate: c.Certificate, Voter: s.Suffrage == hraft.Voter}
		if rec := reg.Node(id); rec != nil {
			m.AdminURL = rec.AdminURL
		}
		out = append(out, m)
	}
	return out
}
