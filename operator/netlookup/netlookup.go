// Package netlookup is the adaptor for an operator's own address lookup
// service: the part of its network (CGNAT session records, the packet
// gateway's sessions) that says which line uses a public address, and
// port, now. The gateway asks it for CAMARA's login_hint=ipport:
// (idgw.AddressResolver).
//
// The service is asked over HTTPS with JSON (http only to a loopback
// host, for a sidecar or a test):
//
//	POST <url>
//	Authorization: Bearer <token>          (when configured)
//	Content-Type: application/json
//
//	{"address": "84.125.93.10", "port": 59028, "at": "2026-12-07T23:59:01Z"}
//
// port is left out when the hint names none; at is when the SP's request
// reached the gateway (RFC 3339, UTC). The service answers
//
//   - 200 {"msisdn": "+447400123456"}: the line at that address and port
//     then (E.164, the "+" optional);
//   - 404: no line it knows there (not its address, no session, or a
//     shared address without the port that tells its users apart);
//
// and anything else is a failure: another status, an answer that is not
// that JSON object, one larger than MaxAnswer, or none within Timeout.
// Redirects are not followed and no proxy is used: the service is the
// operator's own, reached directly.
package netlookup

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
)

// Defaults.
const (
	// DefaultTimeout bounds one lookup: the SP's backchannel request
	// waits for it.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxAnswer bounds what is read of an answer; a number needs
	// a few dozen bytes.
	DefaultMaxAnswer = 4 << 10
)

// Config is the adaptor's configuration.
type Config struct {
	// URL is the lookup service's endpoint: https, or http to a loopback
	// host.
	URL string
	// BearerToken, when set, is sent as Authorization: Bearer.
	BearerToken string
	// TLS is the client's TLS configuration (the service's CA, a client
	// certificate for mutual TLS); nil: the system's roots.
	TLS *tls.Config
	// Timeout bounds each lookup (DefaultTimeout); MaxAnswer the bytes
	// read of an answer (DefaultMaxAnswer).
	Timeout   time.Duration
	MaxAnswer int64
}

// Lookup asks the operator's lookup service (idgw.AddressResolver). It is
// safe for concurrent use.
type Lookup struct {
	url       string
	token     string
	maxAnswer int64
	http      *http.Client
}

var _ idgw.AddressResolver = (*Lookup)(nil)

// New checks cfg and returns the adaptor.
func New(cfg Config) (*Lookup, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("netlookup: url %q: want https://host/path", cfg.URL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("netlookup: url %q: plain http only to a loopback host; the lookup answers who is behind an address", cfg.URL)
		}
	default:
		return nil, fmt.Errorf("netlookup: url %q: want https://host/path", cfg.URL)
	}
	if strings.ContainsAny(cfg.BearerToken, "\r\n") {
		return nil, errors.New("netlookup: the bearer token holds a line break")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAnswer <= 0 {
		cfg.MaxAnswer = DefaultMaxAnswer
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	tr := &http.Transport{
		Proxy:               nil, // the operator's own service, directly
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		TLSHandshakeTimeout: cfg.Timeout,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Lookup{url: u.String(), token: cfg.BearerToken, maxAnswer: cfg.MaxAnswer, http: &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not followed
		},
	}}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type question struct {
	Address string `json:"address"`
	Port    uint16 `json:"port,omitempty"`
	At      string `json:"at"`
}

type answer struct {
	MSISDN string `json:"msisdn"`
}

// SubscriberAt asks the service who uses a at time at.
func (l *Lookup) SubscriberAt(ctx context.Context, a idgw.IPPort, at time.Time) (uint64, error) {
	body, err := json.Marshal(question{Address: a.Addr.String(), Port: a.Port, At: at.UTC().Format(time.RFC3339)})
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("netlookup: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if l.token != "" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("netlookup: asking the lookup service: %w", err)
	}
	defer resp.Body.Close()
	// One byte more than allowed tells an answer at the limit from one
	// over it.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, l.maxAnswer+1))
	if err != nil {
		return 0, fmt.Errorf("netlookup: reading the answer: %w", err)
	}
	if int64(len(raw)) > l.maxAnswer {
		return 0, fmt.Errorf("netlookup: the answer is larger than %d bytes", l.maxAnswer)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return 0, idgw.ErrAddressUnknown
	default:
		return 0, fmt.Errorf("netlookup: the lookup service answered %d", resp.StatusCode)
	}
	var ans answer
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&ans); err != nil || d.More() {
		return 0, errors.New("netlookup: the answer is not a JSON object with msisdn")
	}
	v := strings.TrimSpace(ans.MSISDN)
	if v == "" {
		return 0, errors.New("netlookup: the answer holds no msisdn")
	}
	if !strings.HasPrefix(v, "+") {
		v = "+" + v
	}
	n, err := e164.Parse(v)
	if err != nil {
		return 0, fmt.Errorf("netlookup: the answer's msisdn: %w", err)
	}
	return n, nil
}

// LoadTLS is the client TLS configuration from PEM files: caFile the
// service's CA bundle (empty: the system's roots), certFile and keyFile
// a client certificate for mutual TLS (both or neither).
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("netlookup: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("netlookup: ca_file %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("netlookup: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	case certFile != "" || keyFile != "":
		return nil, errors.New("netlookup: give cert_file and key_file together")
	}
	return tc, nil
}
