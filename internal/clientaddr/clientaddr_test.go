package clientaddr

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// serve starts an app answering each request with Of's address, on
// loopback; cfg is nil for an app that did not opt in.
func serve(t *testing.T, trusted []string) string {
	t.Helper()
	var cfg fiber.Config
	if trusted != nil {
		nets, err := Networks(trusted)
		if err != nil {
			t.Fatal(err)
		}
		FiberConfig(&cfg, nets)
	}
	cfg.DisableStartupMessage = true
	app := fiber.New(cfg)
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString(Of(c)) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return "http://" + ln.Addr().String() + "/"
}

// from asks url from the loopback address src (Linux routes all of
// 127/8 to lo), with one X-Forwarded-For line per value of xff.
func from(t *testing.T, src, url string, xff ...string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	client := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", url, nil)
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestOfTakesTheRightmostUntrustedHop: behind a trusted proxy the address
// is the one the proxy saw connect, never what the client wrote to the
// left of it; from anywhere else the header is ignored.
func TestOfTakesTheRightmostUntrustedHop(t *testing.T) {
	// 127.0.0.2 is the load balancer; 10/8 the proxies behind it.
	url := serve(t, []string{"127.0.0.2", "10.0.0.0/8"})
	for _, tc := range []struct {
		name, src string
		xff       []string
		want      string
	}{
		{"not a proxy: the header is ignored", "127.0.0.3", []string{"203.0.113.1"}, "127.0.0.3"},
		{"the proxy without a header", "127.0.0.2", nil, "127.0.0.2"},
		{"the proxy's client", "127.0.0.2", []string{"203.0.113.1"}, "203.0.113.1"},
		{"a spoofed hop on the left", "127.0.0.2", []string{"198.51.100.7, 203.0.113.1"}, "203.0.113.1"},
		{"a spoofed header line before the proxy's", "127.0.0.2", []string{"198.51.100.7", "203.0.113.1"}, "203.0.113.1"},
		{"trusted hops skipped", "127.0.0.2", []string{"198.51.100.7, 203.0.113.1, 10.1.2.3 , 10.9.9.9"}, "203.0.113.1"},
		{"all hops trusted: the leftmost", "127.0.0.2", []string{"10.1.2.3, 10.9.9.9"}, "10.1.2.3"},
		{"a hop that is no address: the nearest trusted one", "127.0.0.2", []string{"203.0.113.1, 10.1.2.3, unknown"}, "127.0.0.2"},
		{"a port, brackets, a mapped address", "127.0.0.2", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"an address with a port", "127.0.0.2", []string{"::ffff:203.0.113.5, 203.0.113.1:5000"}, "203.0.113.1"},
		{"empty elements", "127.0.0.2", []string{"203.0.113.1,, "}, "203.0.113.1"},
	} {
		if got := from(t, tc.src, url, tc.xff...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestOfTrustsNobodyByDefault: an app without trusted networks, or one
// that never opted in (where fiber itself would trust every connection),
// keys on the connection.
func TestOfTrustsNobodyByDefault(t *testing.T) {
	for _, trusted := range [][]string{{}, nil} {
		if got := from(t, "127.0.0.2", serve(t, trusted), "203.0.113.1"); got != "127.0.0.2" {
			t.Errorf("trusted %v: %q", trusted, got)
		}
	}
}

func TestNetworks(t *testing.T) {
	got, err := Networks([]string{"10.1.2.3/8", "192.0.2.1", "2001:db8::/32", "::1"})
	if want := []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "::1/128"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("%v %v, want %v", got, err, want)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example", "fe80::1%eth0"} {
		if _, err := Networks([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
