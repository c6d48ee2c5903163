package seamless

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
)

// TestConfig: the trusted networks are required and must be networks.
func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "trusted_networks is required") {
		t.Fatalf("no networks: %v", err)
	}
	if _, err := New(Config{TrustedNetworks: []string{"mobile-gw"}}); err == nil || !strings.Contains(err.Error(), `"mobile-gw" is not a network`) {
		t.Fatalf("a name for a network: %v", err)
	}
}

// TestStart: the header is believed only from the trusted networks (an
// IPv4-mapped address counts as its IPv4 one), must be a valid number and
// the challenge's; every refusal is idgw.ErrUnavailable (routing moves
// on), and success is decided at Start, confirmed by Check.
func TestStart(t *testing.T) {
	a, err := New(Config{Header: "x-msisdn", TrustedNetworks: []string{"10.20.0.0/16", "2001:db8::1"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const me = 447400111222
	ch := func(src, header string) idgw.Challenge {
		h := http.Header{}
		if header != "" {
			h.Set("X-Msisdn", header)
		}
		var addr netip.Addr
		if src != "" {
			addr = netip.MustParseAddr(src)
		}
		return idgw.Challenge{MSISDN: me, Network: idgw.Network{ClientAddr: addr, Header: h}}
	}
	for _, c := range []struct {
		name string
		ch   idgw.Challenge
		want error
	}{
		{"trusted, the hint's number", ch("10.20.1.1", "447400111222"), nil},
		{"with a plus", ch("10.20.1.1", "+447400111222"), nil},
		{"IPv4-mapped", ch("::ffff:10.20.1.1", "447400111222"), nil},
		{"trusted IPv6", ch("2001:db8::1", "447400111222"), nil},
		{"no header", ch("10.20.1.1", ""), ErrNoHeader},
		{"untrusted source", ch("10.21.1.1", "447400111222"), ErrUntrusted},
		{"no source", ch("", "447400111222"), ErrUntrusted},
		{"another number", ch("10.20.1.1", "447400111333"), ErrOtherNumber},
		{"not a number", ch("10.20.1.1", "0123"), ErrBadHeader},
	} {
		st, err := a.Start(context.Background(), c.ch)
		if c.want != nil {
			if !errors.Is(err, c.want) || !errors.Is(err, idgw.ErrUnavailable) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			continue
		}
		if err != nil || !st.Decided || st.RedirectURL != "" {
			t.Errorf("%s: %+v %v", c.name, st, err)
			continue
		}
		if out, err := a.Check(context.Background(), st.State, nil); err != nil || out.Status != idgw.Succeeded {
			t.Errorf("%s: Check %+v %v", c.name, out, err)
		}
	}
	if out, _ := a.Check(context.Background(), []byte("forged"), nil); out.Status != idgw.Failed {
		t.Errorf("a state Start did not give succeeded: %+v", out)
	}
}
