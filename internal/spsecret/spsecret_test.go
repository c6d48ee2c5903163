package spsecret

import (
	"strings"
	"testing"
)

const secret = "bBa3VxnB9sQzJqk5w7mH1r2Tt0yZcL8dPfE4uGi6oNo"

func TestOperatorSecretWorksOnlyWhereItWasMadeFor(t *testing.T) {
	key := PublicKey(secret)
	if !strings.HasPrefix(key, KeyPrefix) || len(key) != len(KeyPrefix)+43 {
		t.Fatalf("public key %q", key)
	}
	if _, ok := ParseKey(key); !ok {
		t.Fatalf("ParseKey refuses PublicKey's %q", key)
	}
	a := OperatorSecret(secret, "shop", "a")
	if len(a) != OperatorSecretLen || a != OperatorSecret(secret, "shop", "a") {
		t.Fatalf("operator secret %q is not 86 characters or not deterministic", a)
	}
	if !Verify(key, "shop", "a", a) {
		t.Fatal("the operator secret does not verify where it was made for")
	}
	for _, c := range []struct{ clientID, operator, presented string }{
		{"shop", "b", a},      // another operator
		{"shop2", "a", a},     // another SP
		{"shopa", "", a},      // the NUL keeps the fields apart
		{"shop", "a", secret}, // the SP's own secret
		{"shop", "a", OperatorSecret(secret, "shop", "b")}, // b's
		{"shop", "a", OperatorSecret("another secret", "shop", "a")},
		{"shop", "a", a[:85] + "A"},
		{"shop", "a", ""},
	} {
		if Verify(key, c.clientID, c.operator, c.presented) {
			t.Errorf("Verify(%q, %q, %q) accepted", c.clientID, c.operator, c.presented)
		}
	}
	if CheckSecret(key, a) || CheckSecret(key, secret+"x") || !CheckSecret(key, secret) {
		t.Fatal("CheckSecret does not tell the SP's own secret from others")
	}
}

func TestParseKeyRefusesWhatIsNotAKey(t *testing.T) {
	for _, k := range []string{"", "ed25519:", "sha256:" + strings.Repeat("0", 64), "ed25519:" + strings.Repeat("A", 42),
		"ed25519:" + strings.Repeat("A", 44), "ed25519:" + strings.Repeat("+", 43), "ed25519:" + strings.Repeat("A", 42) + "B"} {
		if _, ok := ParseKey(k); ok {
			t.Errorf("ParseKey(%q) accepted", k)
		}
	}
}
