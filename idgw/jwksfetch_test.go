package idgw

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// TestJWKSAddressPolicy: a production gateway fetches a jwks_uri from
// public unicast addresses only; a loopback deployment from loopback too,
// never from a private network.
func TestJWKSAddressPolicy(t *testing.T) {
	for _, tc := range []struct {
		addr              string
		production, local bool // allowed
	}{
		{"8.8.8.8", true, true},
		{"93.184.215.14", true, true},
		{"2606:4700:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.1.2.3", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"::ffff:10.1.2.3", false, false},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"fc00::1", false, false},
		{"fd12:3456::1", false, false},
		{"100.64.0.1", false, false},
		{"100.127.255.254", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"0.1.2.3", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"192.0.2.1", false, false},
		{"198.18.0.1", false, false},
		{"64:ff9b::a01:203", false, false}, // NAT64 of 10.1.2.3
		{"2002:a01:203::1", false, false},  // 6to4 of 10.1.2.3
		{"fec0::1", false, false},
		{"2001:db8::1", false, false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if err := checkJWKSAddr(a, false); (err == nil) != tc.production {
			t.Errorf("production gateway, %s: %v, want allowed %v", tc.addr, err, tc.production)
		}
		if err := checkJWKSAddr(a, true); (err == nil) != tc.local {
			t.Errorf("loopback deployment, %s: %v, want allowed %v", tc.addr, err, tc.local)
		}
	}
}

// TestLoopbackIssuer: only a gateway whose issuer's host is loopback is a
// loopback deployment.
func TestLoopbackIssuer(t *testing.T) {
	for issuer, want := range map[string]bool{
		"http://127.0.0.1:8080/":          true,
		"http://localhost:9000/mc":        true,
		"https://[::1]:8443/":             true,
		"https://red.example/":            false,
		"https://10.0.0.5/":               false,
		"https://127.0.0.1.example/":      false,
		"https://localhost.attacker.com/": false,
		"https://localhost@red.example/":  false,
		"":                                false,
	} {
		if got := loopbackIssuer(issuer); got != want {
			t.Errorf("loopbackIssuer(%q) = %v, want %v", issuer, got, want)
		}
	}
}

// TestProductionGatewayRefusesInternalJWKSURI: a gateway whose issuer is a
// public https URL does not connect to a jwks_uri on loopback, a private
// network or the cloud metadata address, even over https and even by a
// name that resolves there, and tells the client only that the keys could
// not be fetched.
func TestProductionGatewayRefusesInternalJWKSURI(t *testing.T) {
	f := newTokenFixture(t) // issuer https://red.example/
	log := f.logTo()
	k := spKey(t, jose.ES256, 0)
	listen := func(addr string) net.Listener {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil
		}
		return ln
	}
	type target struct {
		name string
		srv  *jwksServer // nil: no listener, the address alone
		uri  string
		want string // in the log
	}
	var targets []target
	if ln := listen("127.0.0.1:0"); ln != nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		srv := serveJWKS(t, ln, true, jwksOf(k))
		targets = append(targets, target{"https on 127.0.0.1", srv, srv.url, "not a public address"})
		// localhost resolves to loopback: refused after resolution.
		targets = append(targets, target{"https on localhost", srv, "https://localhost:" + port + "/jwks", "not a public address"})
	}
	if ln := listen("127.0.0.1:0"); ln != nil {
		srv := serveJWKS(t, ln, false, jwksOf(k))
		targets = append(targets, target{"plain http on 127.0.0.1", srv, srv.url, "must be https"})
	}
	if ln := listen("[::1]:0"); ln != nil {
		srv := serveJWKS(t, ln, true, jwksOf(k))
		targets = append(targets, target{"https on [::1]", srv, srv.url, "not a public address"})
	} else {
		targets = append(targets, target{"https on [::1]", nil, "https://[::1]/jwks", "not a public address"})
	}
	targets = append(targets,
		target{"a private network", nil, "https://10.1.2.3/jwks", "not a public address"},
		target{"the cloud metadata address", nil, "https://169.254.169.254/latest/meta-data/jwks", "not a public address"},
		target{"carrier-grade NAT", nil, "https://100.64.0.1/jwks", "not a public address"},
	)
	for i, tc := range targets {
		id := "internal-" + string(rune('a'+i))
		if err := f.addSP(registry.ServiceProvider{ClientID: id, JWKSURI: tc.uri}); err != nil {
			t.Fatal(err)
		}
		status, body, _ := f.redeem("", withAssertion(codeForm(f.code("client_id", "shop")), f.assertion(k, id, nil)))
		if status != 401 || body["error"] != "invalid_client" || body["error_description"] != jwksUnavailable {
			t.Errorf("%s: %d %v, want 401 invalid_client saying %q", tc.name, status, body, jwksUnavailable)
		}
		if tc.srv != nil && tc.srv.conns.Load() != 0 {
			t.Errorf("%s: the gateway connected to it (%d connections)", tc.name, tc.srv.conns.Load())
		}
		if line := logLine(log.String(), "client_id="+id+" "); !strings.Contains(line, tc.want) {
			t.Errorf("%s: the gateway's log says %q, want the reason %q", tc.name, line, tc.want)
		}
	}
}
