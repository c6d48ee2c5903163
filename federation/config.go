package federation

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/operator/sms"
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
	DefaultMaxStaleness   = 5 * time.Second
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
	// KeyRotation is how long a signing key signs before the node replaces
	// it (0: DefaultKeyRotation; negative: never); the old key stays
	// published until its tokens expire.
	KeyRotation time.Duration
	// SMSC is the operator's SMSC connection for the SMS authenticator
	// (nil or without an address: no SMS authenticator).
	SMSC *SMSCConfig
	// SMSMode is how the SMS authenticator works: "otp" (a code typed on
	// the gateway's page), "url" (a link tapped on the phone) or "otp+url"
	// (either; the default).
	SMSMode string
	// Bootstrap starts a new federation with this node as its first member.
	Bootstrap bool
	// Join is the admin URL of any member (http:// when no scheme is
	// given); JoinToken admits this node.
	Join      string
	JoinToken string
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
	Logger         *slog.Logger

	// now is the clock of the admin listener's and discovery's failure
	// budgets (nil: time.Now); the tests refill them without sleeping.
	now func() time.Time
	// adminTokenIterations is the PBKDF2 cost of the admin token's
	// verifier (0: registry.SlowHashIterations); the tests lower it.
	adminTokenIterations int
}

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
		{c.AdminToken == "", "--admin-token is required: the admin API is never open"},
		{c.AdminToken != "" && len(c.AdminToken) < 16, "--admin-token must be at least 16 characters"},
		{c.Bootstrap && c.Join != "", "--bootstrap and --join exclude each other"},
		{c.Join != "" && c.JoinToken == "", "--join needs --join-token"},
		{c.OperatorFile != "" && c.OperatorID == "", "--operator-file needs --operator"},
		{c.OperatorFile != "" && c.Operator != nil, "an operator profile and --operator-file exclude each other"},
		{tlsFiles && (c.TLSCertFile == "" || c.TLSKeyFile == "" || c.TLSCAFile == ""), "--tls-cert, --tls-key and --tls-ca go together"},
		{tlsFiles && c.RaftTLS != nil, "a TLS config and --tls-* files exclude each other"},
		{!tlsFiles && c.RaftTLS == nil && !c.InsecurePlaintext && c.RaftAddr != "" && !loopback(c.RaftAddr),
			"Raft and admin traffic between operators' nodes must be mutual TLS: give --tls-cert, --tls-key and --tls-ca " +
				"(or --insecure-plaintext on a network you trust)"},
		{c.SMSMode != "" && !validSMSMode(c.SMSMode), fmt.Sprintf("--sms-mode %q: want otp, url or otp+url", c.SMSMode)},
		{proxiesErr != nil, fmt.Sprintf("--trusted-proxies: %v", proxiesErr)},
	}
	var errs []error
	for _, ch := range checks {
		if ch.bad {
			errs = append(errs, errors.New(ch.msg))
		}
	}
	if c.SMSC != nil && c.SMSC.Addr != "" {
		if err := c.SMSC.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validSMSMode(m string) bool {
	switch sms.Mode(m) {
	case sms.ModeOTP, sms.ModeURL, sms.ModeOTPURL:
		return true
	}
	return false
}

// withDefaults fills what c leaves zero, and reads the files c names.
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
	if c.MaxStaleness == 0 {
		c.MaxStaleness = DefaultMaxStaleness
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
	if c.OperatorFile != "" {
		p, err := LoadOperatorProfile(c.OperatorFile)
		if err != nil {
			return err
		}
		c.Operator = p
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
