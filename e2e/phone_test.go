package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smsc"
)

// SMPP credentials the nodes bind to the simulated SMSC with (SMPP v3.4
// allows 8 characters of password).
const (
	smscSystemID = "e2e-node"
	smscPassword = "e2e-pw01"
)

// phone is the carrier side of a federation under test, in the test
// process: a simulated SMSC on loopback that the nodes bind to over SMPP,
// delivering to a simulated handset whose JSON API the test reads, as an
// automated SP test would.
type phone struct {
	smsc *smsc.Server
	url  string // the handset API's base URL, ".../handset"
}

func startPhone(t *testing.T) *phone {
	t.Helper()
	h := handset.New(handset.Options{})
	s, err := smsc.Listen(smsc.Config{Addr: "127.0.0.1:0", SystemID: smscSystemID, Password: smscPassword,
		Deliverer: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("SMSC: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return &phone{smsc: s, url: "http://" + ln.Addr().String() + "/handset"}
}

// smscFlags are the flags that give a node this phone's SMSC.
func (p *phone) smscFlags(sender string) []string {
	return []string{"--smsc-addr", p.smsc.Addr(), "--smsc-system-id", smscSystemID,
		"--smsc-password", smscPassword, "--smsc-source", sender}
}

// inbox lists number's SMS, newest first, through the handset's API.
func (p *phone) inbox(number string) ([]handset.Message, error) {
	msisdn, err := handset.NormalizeMSISDN(number)
	if err != nil {
		return nil, err
	}
	var out struct {
		Messages []handset.Message `json:"messages"`
	}
	return out.Messages, getJSON(p.url+"/"+msisdn+"/messages", &out)
}

// waitSMS polls number's inbox until it holds more than seen messages and
// returns the newest.
func (p *phone) waitSMS(t *testing.T, number string, seen int) handset.Message {
	t.Helper()
	var msgs []handset.Message
	err := poll(15*time.Second, func() (bool, error) {
		var err error
		msgs, err = p.inbox(number)
		return len(msgs) > seen, err
	})
	if err != nil {
		t.Fatalf("no SMS reached %s: %v", number, err)
	}
	return msgs[0]
}

// tap taps link i of an SMS, as the phone's browser opens it, and returns
// the status of the page the link showed.
func (p *phone) tap(number string, m handset.Message, i int) (int, error) {
	msisdn, err := handset.NormalizeMSISDN(number)
	if err != nil {
		return 0, err
	}
	u := fmt.Sprintf("%s/%s/messages/%s/tap?link=%d", p.url, msisdn, url.PathEscape(m.ID), i)
	resp, err := http.Post(u, "", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Status int `json:"status"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("tap: %d %s", resp.StatusCode, b)
	}
	err = json.NewDecoder(resp.Body).Decode(&res)
	return res.Status, err
}
