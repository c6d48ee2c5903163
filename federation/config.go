package federation

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/operator/sms"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/raft"
)

// The defaults of a node's settings. main's flags show them and
// Config.withDefaults applies them, so a node built in code (mcfed dev, the
// tests) runs as one started from the command line does.
const (
	DefaultRaftAddr   = "127.0.0.1:7000"
	DefaultAdminAddr  = "127.0.0.1:7001"
	DefaultPublicAddr = "127.0.0.1:8080"
	// DefaultKeyRotation is how long a signing key signs before the node
	// replaces it.
	DefaultKeyRotation = 30 * 24 * time.Hour
	DefaultSMSMode     = string(sms.ModeOTPURL)
	// DefaultMaxStaleness is how long a follower may go without hearing
	// from the leader and still call itself ready.
	DefaultMaxStaleness = 5 * time.Second
	// DefaultJoinTimeout is how long a joining node waits for the
	// federation to admit it (an election in progress, say) before it
	// gives up.
	DefaultJoinTimeout    = 2 * time.Minute
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxImportBytes = 4 << 30
)

// Config configures one node. main fills it from flags and environment and
// does nothing else with it: defaults are applied and every setting checked
// here, whoever builds the Config.
type Config struct {
	NodeID  string
	DataDir string
	// Listen addresses. Port 0 picks a free port (tests, dev).
	RaftAddr   string
	AdminAddr  string
	PublicAddr string
	// PublicListener, when set, is the public listener already open
	// (PublicAddr then only names it): for a caller that must know the
	// port before the node starts, as `mcfed dev` does to put it in the
	// issuer, without a moment in which another process could take it.
	// The node owns it from Start on, and closes it.
	PublicListener net.Listener
	// PublicURL is how SPs and users' browsers reach the public listener
	// (behind a load balancer or TLS terminator); by default the listener's
	// own address over http.
	PublicURL string
	// OperatorID is the operator whose Identity Gateway this node is; the
	// gateway serves once that operator is registered. Empty: a node that
	// only takes part in the registry and discovery.
	OperatorID string
	// Operator, when set, is the profile the node registers for OperatorID
	// (its record, ranges and IP ranges; see OperatorProfile). Without it
	// the federation's admin registers the operator, and the node keeps the
	// record's issuer and public keys up to date. OperatorFile names a JSON
	// file to read it from instead.
	Operator     *OperatorProfile
	OperatorFile string
	// Store is where the operator's node-local state lives: "" for the
	// embedded store in DataDir (state.db, one node), or a postgres:// URL
	// that all of the operator's gateway nodes share (several nodes
	// behind one issuer). It needs OperatorID.
	Store string
	// KEKFile is the file of the 32-byte key-encryption key with which the
	// operator's keys are kept in the state store (keyvault.go); every
	// gateway node of the operator needs the same one. Empty: a key the
	// node makes in its data directory, for a node whose store is there
	// too.
	KEKFile string
	// KeyRotation is how long a signing key signs before the node replaces
	// it (0: DefaultKeyRotation; negative: never); the old key stays
	// published until its tokens expire. Discovery's seal key rotates on
	// the same period (nodesealkeys.go).
	KeyRotation time.Duration
	// SMSC is the operator's SMSC connection for the SMS authenticator
	// (nil or without an address: no SMS authenticator).
	SMSC *SMSCConfig
	// SMSMode is how the SMS authenticator works: "otp" (a code typed on
	// the gateway's page), "url" (a link tapped on the phone) or "otp+url"
	// (either; the default).
	SMSMode string
	// Authenticators are the authenticators the operator's gateway runs,
	// in its order of preference, each with its settings (see
	// authenticatorTypes). Empty: SMS alone when an SMSC is given.
	// AuthenticatorsFile names a JSON file holding the list instead.
	Authenticators     []AuthenticatorConfig
	AuthenticatorsFile string
	// NetworkLookup is the operator's address lookup service behind CAMARA
	// login_hint=ipport: (networkLookupSettings, JSON: operator/netlookup);
	// NetworkLookupFile names a JSON file holding them instead.
	// AddressResolver is one given in-process instead (mcfed dev's
	// simulated network). None of them: ipport: hints are refused.
	NetworkLookup     json.RawMessage
	NetworkLookupFile string
	AddressResolver   idgw.AddressResolver
	// Bootstrap starts a new federation with this node as its first member.
	Bootstrap bool
	// Join is the admin URL of any member (http:// when no scheme is
	// given); JoinToken admits this node.
	Join      string
	JoinToken string
	// JoinTimeout bounds the join: past it, a federation that could not
	// admit the node (no leader) is given up on (0: DefaultJoinTimeout).
	// Failures that waiting cannot mend end the join at once (join.go).
	JoinTimeout time.Duration
	// AdminToken authenticates calls to the admin API (Bearer). It is
	// registered as credential admin:<NodeID>, with the role the node was
	// given when it was first registered: federation admin for the node
	// that bootstraps the federation, operator admin of OperatorID for a
	// node that joins with one (none for a node that joins without).
	AdminToken string
	// RaftTLS, when set, makes Raft traffic mutual TLS, and serves the admin
	// API over TLS with the same certificate: forwarded writes carry the
	// forwarding node's secret and the credential they were made with, so
	// node-to-node admin traffic must not travel in clear outside dev.
	// Nodes call each other's admin APIs presenting their certificate,
	// which must name their node id, and trusting only the federation's
	// CA. TLSCertFile, TLSKeyFile and TLSCAFile build it from PEM files
	// instead.
	RaftTLS                            *tls.Config
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// InsecurePlaintext allows Raft and node-to-node admin traffic without
	// TLS on an address that is not loopback.
	InsecurePlaintext bool
	// MaxStaleness bounds how long a follower may go without hearing from
	// the leader before it reports itself not ready.
	MaxStaleness time.Duration
	// Raft tuning (tests shorten timeouts and compact the log early).
	Raft raft.Config
	// MaxBodyBytes caps JSON bodies on the admin API; imports stream and
	// are capped by MaxImportBytes.
	MaxBodyBytes   int
	MaxImportBytes int64
	// TrustedProxies are the networks (CIDRs, or single addresses) of the
	// load balancers or TLS terminators in front of the node's listeners:
	// from them, the client's address is X-Forwarded-For's rightmost hop
	// outside these networks (internal/clientaddr); from anywhere else,
	// the connection's. The failure budgets of the gateway, discovery,
	// join and the admin API are kept per that address. Empty: no proxy
	// is trusted.
	TrustedProxies []string
	// SendBudgets bound the logins that reach a subscriber's handset per
	// SP, source address and operator, counted in the operator's state
	// store (idgw/sendbudget.go). Zero: idgw.DefaultSendBudgets.
	SendBudgets idgw.SendBudgets
	Logger      *slog.Logger

	// now is the clock of the admin listener's and discovery's failure
	// budgets (nil: time.Now); the tests refill them without sleeping.
	now func() time.Time
	// adminTokenIterations is the PBKDF2 cost of the admin token's
	// verifier (0: registry.SlowHashIterations); the tests lower it.
	adminTokenIterations int
	// wrapTransport, when set, wraps the transport the node calls other
	// members with: the tests lose a leader's answer with it.
	wrapTransport func(http.RoundTripper) http.RoundTripper
	// wrapState, when set, wraps the operator's state store once opened:
	// the tests count what a login asks of it.
	wrapState func(state.Store) state.Store
}

// ConfigError is a start refused for its settings, every problem at once,
// each naming the flag that fixes it: main exits 2 on it, as on a bad flag.
type ConfigError struct{ Problems []error }

func (e *ConfigError) Error() string { return errors.Join(e.Problems...).Error() }

func (e *ConfigError) Unwrap() []error { return e.Problems }

// validate reports every problem of c at once, as a person fixing a
// command line wants them: one table of checks, by flag name.
func (c *Config) validate() error {
	tlsFiles := c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSCAFile != ""
	_, proxiesErr := clientaddr.Networks(c.TrustedProxies)
	checks := []struct {
		bad bool
		msg string
	}{
		{c.NodeID == "", "--node-id is required"},
		{c.DataDir == "", "--data-dir is required"},
		{c.AdminToken == "", "--admin-token (or --admin-token-file) is required: the admin API is never open"},
		{c.AdminToken != "" && len(c.AdminToken) < 16, "--admin-token must be at least 16 characters"},
		{c.Bootstrap && c.Join != "", "--bootstrap and --join exclude each other"},
		{c.Join != "" && c.JoinToken == "", "--join needs --join-token (or --join-token-file)"},
		{c.OperatorFile != "" && c.OperatorID == "", "--operator-file needs --operator"},
		{c.OperatorFile != "" && c.Operator != nil, "an operator profile and --operator-file exclude each other"},
		{tlsFiles && (c.TLSCertFile == "" || c.TLSKeyFile == "" || c.TLSCAFile == ""), "--tls-cert, --tls-key and --tls-ca go together"},
		{tlsFiles && c.RaftTLS != nil, "a TLS config and --tls-* files exclude each other"},
		{!tlsFiles && c.RaftTLS == nil && !c.InsecurePlaintext && c.RaftAddr != "" && !loopback(c.RaftAddr),
			"Raft and admin traffic between operators' nodes must be mutual TLS: give --tls-cert, --tls-key and --tls-ca " +
				"(or --insecure-plaintext on a network you trust)"},
		{c.SMSMode != "" && !validSMSMode(c.SMSMode), fmt.Sprintf("--sms-mode %q: want otp, url or otp+url", c.SMSMode)},
		{proxiesErr != nil, fmt.Sprintf("--trusted-proxies: %v", proxiesErr)},
		{c.PublicURL == "" && c.PublicAddr != "" && !routable(c.PublicAddr), fmt.Sprintf("--public-addr %s listens on every "+
			"interface, which is no address SPs and browsers can use as the issuer: set --public-url to the URL they reach "+
			"this node at, e.g. https://mc.example.net", c.PublicAddr)},
		{c.PublicURL != "" && publicURLProblem(c.PublicURL) != "", fmt.Sprintf("--public-url %q: %s", c.PublicURL, publicURLProblem(c.PublicURL))},
		{c.JoinTimeout < 0, "--join-timeout must not be negative"},
		{c.Store != "" && !sharedStore(c.Store), "--store: want a postgres:// URL (or nothing, for the embedded store in --data-dir)"},
		{c.Store != "" && c.OperatorID == "", "--store needs --operator: it holds an operator's state"},
		{sharedStore(c.Store) && c.KEKFile == "", "--store postgres://... needs --kek-file, the same on every node of the operator: " +
			"the operator's keys are kept there encrypted with it"},
		{c.Join != "" && !joinURLValid(c.Join), fmt.Sprintf("--join %q: want a member's admin URL, e.g. https://10.0.0.1:7001", c.Join)},
	}
	var errs []error
	for _, ch := range checks {
		if ch.bad {
			errs = append(errs, errors.New(ch.msg))
		}
	}
	if c.AuthenticatorsFile != "" && len(c.Authenticators) > 0 {
		errs = append(errs, errors.New("a list of authenticators and --authenticators-file exclude each other"))
	}
	errs = append(errs, checkAuthenticators(c.Authenticators)...)
	lookups := 0
	for _, set := range []bool{len(bytes.TrimSpace(c.NetworkLookup)) > 0, c.NetworkLookupFile != "", c.AddressResolver != nil} {
		if set {
			lookups++
		}
	}
	if lookups > 1 {
		errs = append(errs, errors.New("give one network lookup: settings, --network-lookup-file or an in-process resolver"))
	}
	if c.SMSC != nil && c.SMSC.Addr != "" {
		if err := c.SMSC.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &ConfigError{errs}
	}
	return nil
}

// routable reports whether the host of addr (host:port) names one
// interface, so that http://addr can be published as an issuer: ":8080",
// "0.0.0.0:8080" and "[::]:8080" listen everywhere and name none.
func routable(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // net.Listen reports a malformed address
	}
	ip := net.ParseIP(host)
	return host != "" && (ip == nil || !ip.IsUnspecified())
}

// joinURLValid reports whether u is an http(s) URL with a host, or a
// host:port (withDefaults makes it http://).
func joinURLValid(u string) bool {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Hostname() != ""
}

// publicURLProblem says what is wrong with u as the node's public URL (the
// operator's issuer), "" when nothing is.
func publicURLProblem(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "":
		return "want an absolute http(s) URL, e.g. https://mc.example.net"
	case p.RawQuery != "" || p.Fragment != "" || p.User != nil:
		return "an issuer has no query, fragment or user"
	case !routable(p.Host) || p.Hostname() == "":
		return "its host listens everywhere and names no machine: give the name SPs and browsers reach this node by"
	}
	return ""
}

// ParseDuration reads a duration as people type it: Go's units (300ms,
// 90s, 90m, 720h, 1h30m) and days (30d, 1d12h). Every duration flag and
// MCFED_* variable goes through it.
func ParseDuration(s string) (time.Duration, error) {
	bad := errors.New("want a number and a unit, e.g. 90s, 90m, 720h or 30d (units: ms, s, m, h, d)")
	days, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	n, err := strconv.ParseFloat(days, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || strings.ContainsAny(days, "eEpPxX_") {
		return 0, bad
	}
	d := time.Duration(0)
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, bad
		}
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, bad
		}
	}
	total := n*float64(24*time.Hour) + math.Copysign(float64(d), n)
	if math.Abs(total) >= math.MaxInt64 {
		return 0, errors.New("too long: at most about 106751d")
	}
	return time.Duration(total), nil
}

// formatDuration writes d as ParseDuration reads it, in whole days when it
// is some.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String() // 2m0s, 1h30m0s: the zero units go
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
		if t, ok := strings.CutSuffix(s, "h0m"); ok {
			s = t + "h"
		}
	}
	return s
}

// DurationFlag is a flag.Value over *p that parses with ParseDuration.
func DurationFlag(p *time.Duration) flag.Value { return durationFlag{p} }

type durationFlag struct{ p *time.Duration }

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return formatDuration(*f.p)
}

func (f durationFlag) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*f.p = d
	return nil
}

// BoolFlag is a flag.Value over *p, a switch (--bootstrap alone sets it)
// whose bad values are answered with what it accepts.
func BoolFlag(p *bool) flag.Value { return boolFlag{p} }

type boolFlag struct{ p *bool }

func (f boolFlag) IsBoolFlag() bool { return true }

func (f boolFlag) String() string { return strconv.FormatBool(f.p != nil && *f.p) }

func (f boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*f.p = v
	return nil
}

func validSMSMode(m string) bool {
	switch sms.Mode(m) {
	case sms.ModeOTP, sms.ModeURL, sms.ModeOTPURL:
		return true
	}
	return false
}

// withDefaults fills what c leaves zero, reads the files c names, and
// checks that this build can read the registry snapshots in the data
// directory (upgrade.go).
func (c *Config) withDefaults() error {
	if c.RaftAddr == "" {
		c.RaftAddr = DefaultRaftAddr
	}
	if c.AdminAddr == "" {
		c.AdminAddr = DefaultAdminAddr
	}
	if c.Join != "" && !strings.Contains(c.Join, "://") {
		c.Join = "http://" + c.Join
	}
	if c.KeyRotation == 0 {
		c.KeyRotation = DefaultKeyRotation
	}
	if c.SMSC != nil && c.SMSC.Addr == "" {
		c.SMSC = nil
	}
	if c.SMSMode == "" {
		c.SMSMode = DefaultSMSMode
	}
	if c.SendBudgets == (idgw.SendBudgets{}) {
		c.SendBudgets = idgw.DefaultSendBudgets
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = DefaultMaxStaleness
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxImportBytes == 0 {
		c.MaxImportBytes = DefaultMaxImportBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	proxies, err := clientaddr.Networks(c.TrustedProxies)
	if err != nil {
		return err
	}
	c.TrustedProxies = proxies
	if c.AuthenticatorsFile != "" {
		list, err := loadAuthenticators(c.AuthenticatorsFile)
		if err != nil {
			return err
		}
		c.Authenticators = list
	}
	if c.NetworkLookupFile != "" {
		settings, err := loadNetworkLookup(c.NetworkLookupFile)
		if err != nil {
			return err
		}
		c.NetworkLookup, c.NetworkLookupFile = settings, ""
	}
	if len(c.Authenticators) == 0 && c.SMSC != nil {
		c.Authenticators = []AuthenticatorConfig{{Type: "sms"}}
	}
	if c.OperatorFile != "" {
		p, err := LoadOperatorProfile(c.OperatorFile)
		if err != nil {
			return err
		}
		c.Operator = p
	}
	if err := checkSnapshotFormats(c.DataDir); err != nil {
		return err
	}
	if c.TLSCertFile != "" {
		t, err := mutualTLS(c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile)
		if err != nil {
			return err
		}
		c.RaftTLS = t
	}
	return nil
}

// loopback reports whether addr (host:port) listens on the loopback
// interface only, where plaintext between nodes never leaves the machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mutualTLS builds the Raft transport's TLS config: present our certificate,
// and accept only peers whose certificates the federation's CA signed.
func mutualTLS(cert, key, ca string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no certificate", ca)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// checkAuthenticators: every type is known, and none is listed twice.
func checkAuthenticators(list []AuthenticatorConfig) []error {
	var errs []error
	types, seen := authenticatorTypes(), map[string]bool{}
	for _, a := range list {
		switch {
		case types[a.Type] == nil:
			known := slices.Sorted(maps.Keys(types))
			errs = append(errs, fmt.Errorf("authenticator type %q is unknown: want one of %s", a.Type, strings.Join(known, ", ")))
		case seen[a.Type]:
			errs = append(errs, fmt.Errorf("authenticator type %q is listed twice", a.Type))
		}
		seen[a.Type] = true
	}
	return errs
}

// loadAuthenticators reads --authenticators-file: a JSON list of
// {"type": ..., "settings": {...}}, checked as a Config's list is.
func loadAuthenticators(path string) ([]AuthenticatorConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--authenticators-file: %w", err)
	}
	var list []AuthenticatorConfig
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&list); err != nil {
		return nil, fmt.Errorf("--authenticators-file %s: %w", path, err)
	}
	if errs := checkAuthenticators(list); len(errs) > 0 {
		return nil, fmt.Errorf("--authenticators-file %s: %w", path, errors.Join(errs...))
	}
	return list, nil
}
