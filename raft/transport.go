package raft

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tlsStreamLayer carries Raft's RPCs over TLS. With a config that requires
// and verifies client certificates (federation builds it from the node's
// certificate and the federation's CA), only members can talk Raft.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	config    *tls.Config
}

func newTLSStreamLayer(bind string, advertise net.Addr, config *tls.Config) (*tlsStreamLayer, error) {
	ln, err := tls.Listen("tcp", bind, config)
	if err != nil {
		return nil, fmt.Errorf("raft listener on %s: %w", bind, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tlsStreamLayer{Listener: ln, advertise: advertise, config: config}, nil
}

func (t *tlsStreamLayer) Addr() net.Addr { return t.advertise }

func (t *tlsStreamLayer) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(address), t.config)
}
