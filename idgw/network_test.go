package idgw

import (
	"strings"
	"testing"
)

// TestNetworkFirst: seamless (a NetworkReader) is tried first among the
// candidates of its level, whatever the operator's order, and never
// before a level the SP prefers; prompt=no_seam drops it.
func TestNetworkFirst(t *testing.T) {
	router, err := NewRouter(
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, newPhone()},
		Registration{AuthenticatorInfo{Name: "sim-pin", LoA: 3, AMR: []string{"SIM_PIN"}}, newPhone()},
		Registration{AuthenticatorInfo{Name: "seamless", LoA: 2, AMR: []string{"SEAM_OK"}}, networkPhone{newPhone()}},
	)
	if err != nil {
		t.Fatal(err)
	}
	names := func(cs []registeredAuthenticator) string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return strings.Join(n, " ")
	}
	for _, c := range []struct {
		acr  []int
		want string
	}{
		{[]int{2}, "seamless sms sim-pin"},
		{[]int{3, 2}, "sim-pin seamless sms"},
		{[]int{3}, "sim-pin"},
	} {
		if got := names(networkFirst(router.Candidates(c.acr, nil), c.acr)); got != c.want {
			t.Errorf("acr %v: %q, want %q", c.acr, got, c.want)
		}
	}
	if got := names(withoutNetworkReaders(router.Candidates([]int{2}, nil))); got != "sms sim-pin" {
		t.Errorf("no_seam: %q", got)
	}
	if h := router.networkHeaders(); strings.Join(h, ",") != "X-Msisdn" {
		t.Errorf("the headers copied: %v", h)
	}
}
