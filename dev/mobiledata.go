package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/internal/e164"
)

// Seamless login in the sandbox. An operator's mobile-data gateway sits
// between the phones on its network and the internet, and adds the
// line's MSISDN to the requests that reach the operator's own Identity
// Gateway; the gateway trusts that header only from the mobile-data
// gateway's addresses (the seamless authenticator's trusted_networks).
//
// mcfed dev runs one per operator: an HTTP forward proxy on loopback,
// standing for the mobile data of the operator's first demo number. A
// browser set to use it as its proxy is that phone on mobile data:
// requests to the operator's gateway carry X-MSISDN with the line's
// number, and its connections to the gateway come from a loopback address
// of its own (127.0.0.2 for the first operator, .3, .4), the only one
// that operator's gateway trusts. A request made directly, from
// 127.0.0.1, is not trusted whatever header it sends; the proxy drops any
// X-MSISDN a client sends and sets its own only for its operator's
// gateway, as a real one must.

// msisdnHeader is the enrichment header (the seamless authenticator's
// default).
const msisdnHeader = "X-MSISDN"

// mobileDataSource is the loopback address operator i's mobile-data
// gateway connects from; ok is false where the system has no such
// address (only 127.0.0.1: macOS), and seamless login is then not run.
func mobileDataSource(i int) (addr netip.Addr, ok bool) {
	addr = netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
	ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		return addr, false
	}
	ln.Close()
	return addr, true
}

// seamlessRow is the seamless authenticator's row of an operator whose
// mobile-data gateway connects from src.
func seamlessRow(src netip.Addr) federation.AuthenticatorConfig {
	settings, _ := json.Marshal(map[string]any{"header": msisdnHeader, "trusted_networks": []string{src.String() + "/32"}})
	return federation.AuthenticatorConfig{Type: "seamless", Settings: settings}
}

// mobileData is one operator's simulated mobile-data gateway.
type mobileData struct {
	op      string // the operator's id
	line    string // the line's number, E.164 with '+'
	gateway string // host:port of the operator's gateway (its public URL)
	ln      net.Listener
	srv     *http.Server
}

// startMobileData listens on addr (loopback) as the mobile data of line,
// enriching the requests to gatewayURL and connecting from src.
func startMobileData(addr, op, line, gatewayURL string, src netip.Addr, logger *slog.Logger) (*mobileData, error) {
	g, err := url.Parse(gatewayURL)
	if err != nil {
		return nil, err
	}
	digits, err := e164.Normalize(line)
	if err != nil {
		return nil, err
	}
	m := &mobileData{op: op, line: line, gateway: g.Host}
	if m.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("mobile data of %s: %w", line, err)
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// A forward proxy: the request names its target.
			r.Out.URL = r.In.URL
			r.Out.Host = r.In.Host
			r.Out.Header.Del(msisdnHeader)
			if strings.EqualFold(r.In.URL.Host, m.gateway) {
				r.Out.Header.Set(msisdnHeader, digits)
			}
		},
		Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4,
			IdleConnTimeout: 30 * time.Second},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	m.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodConnect:
			// The sandbox is plain http; an https site would be tunnelled
			// blind, and a real mobile-data gateway enriches no TLS.
			http.Error(w, "this simulated mobile-data gateway carries http only", http.StatusMethodNotAllowed)
		case !r.URL.IsAbs():
			// Opened as a page, not used as a proxy: say what it is.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "Simulated mobile data of %s: set it as your browser's HTTP proxy (%s), then log in on the demo SP's\n"+
				"page with that number at level 2: the gateway at %s sees the line's number and asks nothing.\n", line, m.URL(), gatewayURL)
		default:
			proxy.ServeHTTP(w, r)
		}
	})}
	go m.srv.Serve(m.ln)
	return m, nil
}

// URL is the proxy's URL, for a browser's proxy setting.
func (m *mobileData) URL() string { return "http://" + m.ln.Addr().String() }

func (m *mobileData) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = m.srv.Close()
	}
	return err
}
