package idgw

import "testing"

// TestNeutralizeSPText: links and code-like numbers in an SP's words are
// broken where phones detect them; amounts and short numbers stay.
func TestNeutralizeSPText(t *testing.T) {
	for in, want := range map[string]string{
		"Pay 1,250.00 EUR to Shop": "Pay 1,250.00 EUR to Shop",
		"Your code is 123456":      "Your code is ######",
		"code 995 314 or 0800-123": "code ### ### or ####-###",
		"http://evil.example/x":    "http: evil. example/x",
		"go to www.evil.com":       "go to www. evil. com",
		"Booking.com":              "Booking. com",
		"Shop 24/7":                "Shop 24/7",
		"Demo Shop":                "Demo Shop",
	} {
		if got := NeutralizeSPText(in); got != want {
			t.Errorf("NeutralizeSPText(%q) = %q, want %q", in, got, want)
		}
		if SPTextProblem(NeutralizeSPText(in)) != "" {
			t.Errorf("%q is still a problem once neutralised: %q", in, NeutralizeSPText(in))
		}
	}
}
