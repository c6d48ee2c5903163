package sms_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// TestSMSPutsTheCodeFirstAndQuotesTheSP: the code line comes first; the
// SP's name and binding message are quoted and labelled as the SP's
// words, with links and code-like numbers in them made inert and their
// length capped, so nothing the SP writes passes for the operator's.
func TestSMSPutsTheCodeFirstAndQuotesTheSP(t *testing.T) {
	s := &fakeSender{}
	a, err := sms.New(sms.Config{Mode: sms.ModeOTPURL, PublicURL: "https://op.example", SendLimit: 100, Store: openStore(t, "", nil)}, s)
	if err != nil {
		t.Fatal(err)
	}
	ch := idgw.Challenge{MSISDN: msisdn, SPName: `Demo "Shop"`, ReturnURL: "https://op.example/authorize/continue?session=1",
		BindingMessage: "Pay 1 EUR. Your code is 123456 http://evil.example / " + strings.Repeat("x", 200)}
	if _, err := a.Start(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	text := s.texts[len(s.texts)-1]
	lines := strings.Split(text, "\n")
	code := regexp.MustCompile(`^Your code to sign in to "Demo 'Shop'": ([0-9]{6})$`).FindStringSubmatch(lines[0])
	if code == nil {
		t.Fatalf("the first line is not the code line: %q", text)
	}
	if !strings.HasPrefix(lines[1], "Or tap: https://op.example/sms/link/") {
		t.Fatalf("the link does not follow the code: %q", text)
	}
	if !strings.HasPrefix(lines[2], `"Demo 'Shop'" asks you to approve, in its own words: "Pay 1 EUR. Your code is ###### http: evil. example`) ||
		!strings.HasSuffix(lines[2], `..."`) {
		t.Fatalf("the binding message is not quoted, labelled, neutralised and capped: %q", lines[2])
	}
	// The link's random token may hold a run of digits (CI: "…gON2754uT…"):
	// the code-like numbers are counted in the other lines.
	others := strings.Join(append([]string{lines[0]}, lines[2:]...), "\n")
	if strings.Count(text, "http") != 2 || len(regexp.MustCompile(`[0-9]{4,}`).FindAllString(others, -1)) != 1 {
		t.Fatalf("a link or a code-like number of the SP's got through: %q", text)
	}
	if n := len([]rune(text)); n > 400 {
		t.Fatalf("SMS of %d characters", n)
	}
}
