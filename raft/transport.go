package raft

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tlsStreamLayer carries Raft's RPCs over mutual TLS. The config verifies
// both sides against the federation's CA; trust (peers.go) then holds each
// side to the certificate bound to a member: on accept, one the peer's
// certificate names; on dial, the one the configuration puts at the
// address.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	config    *tls.Config
	trust     *peerTrust
}

func newTLSStreamLayer(bind string, advertise net.Addr, config *tls.Config, trust *peerTrust) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listener on %s: %w", bind, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tlsStreamLayer{ln: ln, advertise: advertise, config: config, trust: trust}, nil
}

// Accept returns the next connection; its handshake, and the check of the
// peer, run when Raft first reads from it, on that connection's goroutine.
func (t *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := t.ln.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, t.trust.accepting(t.config, c.RemoteAddr().String())), nil
}

func (t *tlsStreamLayer) Close() error { return t.ln.Close() }

func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }

func (t *tlsStreamLayer) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), t.trust.dialling(t.config, string(address)))
}
