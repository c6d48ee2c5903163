package idgw

import (
	"regexp"
	"strings"
)

// An SP's words reach the subscriber in the operator's own SMS and pages
// (its registered name, the binding_message of an authorisation). Two
// things in them could pass for the operator's: a link (a phishing page
// reached from an SMS the operator signed) and a run of digits (a second
// "code" beside the real one, or a number to call). binding_message is
// refused at /authorize when it holds either (SPNeedsNeutralizing); what
// is shown anyway, such as a registered name, goes through NeutralizeSPText.

// minCodeLikeDigits is the shortest run of digits taken for a code: the
// shortest code an authenticator sends (sms.Config.CodeLength's minimum).
const minCodeLikeDigits = 4

// linkLike matches what phones turn into a link: a scheme, or a
// dotted name ending in a top-level-domain-like label.
var linkLike = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*:/+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b`)

// SPTextProblem says what in s (an SP's words) cannot be shown to a
// subscriber as it is: "a link", "a run of N or more digits", or "".
func SPTextProblem(s string) string {
	if linkLike.MatchString(s) {
		return "a link"
	}
	for _, r := range digitRuns(s) {
		if r.digits >= minCodeLikeDigits {
			return "a run of 4 or more digits"
		}
	}
	return ""
}

// NeutralizeSPText renders s inert: links broken where phones would
// detect them (a space after "://"'s colon and after each dot), and each
// digit of a code-like run shown as '#'.
func NeutralizeSPText(s string) string {
	s = linkLike.ReplaceAllStringFunc(s, func(m string) string {
		if i := strings.Index(m, "://"); i >= 0 {
			return m[:i+1] + " "
		}
		if strings.HasSuffix(m, ":/") || strings.HasSuffix(m, ":") {
			return strings.TrimRight(m, "/") + " "
		}
		return strings.ReplaceAll(m, ".", ". ")
	})
	runs := digitRuns(s)
	if len(runs) == 0 {
		return s
	}
	b := []byte(s)
	for _, r := range runs {
		if r.digits < minCodeLikeDigits {
			continue
		}
		for i := r.start; i < r.end; i++ {
			if b[i] >= '0' && b[i] <= '9' {
				b[i] = '#'
			}
		}
	}
	return string(b)
}

// digitRun is a run of ASCII digits in a string, byte offsets [start,
// end), where single spaces, hyphens or slashes between digits join it
// ("12 34-56" is one run of six): how codes and phone numbers are written.
type digitRun struct{ start, end, digits int }

func digitRuns(s string) []digitRun {
	var out []digitRun
	isDigit := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	for i := 0; i < len(s); {
		if !isDigit(i) {
			i++
			continue
		}
		r := digitRun{start: i}
		for {
			for isDigit(i) {
				i++
				r.digits++
			}
			if i+1 < len(s) && strings.IndexByte(" -/", s[i]) >= 0 && isDigit(i+1) {
				i++
				continue
			}
			break
		}
		r.end = i
		out = append(out, r)
	}
	return out
}
