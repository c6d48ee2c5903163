package discovery

import (
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// A subscriber_id made for operator A opens with A's private key, to the
// number, and with no other key.
func TestSealOpensOnlyWithTheOperatorsKey(t *testing.T) {
	keys := testKeys()
	n := mustNumber(t, numRed)
	id, err := Seal(&keys["red"].PublicKey, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 512 || strings.ToLower(id) != id {
		t.Fatalf("subscriber_id of %d characters (lower case: %v), want 512 lower-case hex digits", len(id), strings.ToLower(id) == id)
	}
	if got, err := Open(keys["red"], id); err != nil || got != n {
		t.Fatalf("Open with red's key: %d, %v; want %d", got, err, n)
	}
	for _, other := range []string{"blue", "grey", "teal"} {
		if got, err := Open(keys[other], id); !errors.Is(err, ErrSubscriberID) {
			t.Errorf("Open with %s's key: %d, %v; want ErrSubscriberID", other, got, err)
		}
	}
	// The gateway may be handed upper-case hex by a client that rewrote it.
	if got, err := Open(keys["red"], strings.ToUpper(id)); err != nil || got != n {
		t.Errorf("Open of upper-case hex: %d, %v", got, err)
	}
	again, _ := Seal(&keys["red"].PublicKey, n)
	if again == id {
		t.Error("two seals of one number are equal: SPs could link users by subscriber_id")
	}
}

// The plaintext is the recipe's: digits, '|', printable fill, 128 bytes.
func TestSealPlaintextFormat(t *testing.T) {
	k := testKeys()["red"]
	for _, s := range []string{numRed, "+12015550123", "+8613912345678"} {
		n := mustNumber(t, s)
		id, err := Seal(&k.PublicKey, n)
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := hex.DecodeString(id)
		//lint:ignore SA1019 reading the wire format under test.
		pt, err := rsa.DecryptPKCS1v15(nil, k, ct)
		if err != nil {
			t.Fatal(err)
		}
		digits, fill, ok := strings.Cut(string(pt), "|")
		if len(pt) != 128 || !ok || digits != strings.TrimPrefix(e164.Format(n), "+") {
			t.Fatalf("plaintext %q: want %s's digits, '|', fill to 128 bytes", pt, s)
		}
		for _, c := range []byte(fill) {
			if c < 0x21 || c > 0x7e || c == '|' {
				t.Fatalf("fill %q has a non-printable character or '|'", fill)
			}
		}
	}
}

func TestOpenRefusesMalformed(t *testing.T) {
	k := testKeys()["red"]
	good, _ := Seal(&k.PublicKey, mustNumber(t, numRed))
	sealRaw := func(pt string) string {
		//lint:ignore SA1019 building malformed plaintexts under the right key.
		ct, err := rsa.EncryptPKCS1v15(nil, &k.PublicKey, []byte(pt))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(ct)
	}
	pad := func(s string) string { return s + strings.Repeat("A", 128-len(s)) }
	for name, id := range map[string]string{
		"empty":             "",
		"short":             good[:510],
		"long":              good + "00",
		"not hex":           "zz" + good[2:],
		"ENCR_MSISDN: kept": "ENCR_MSISDN:" + good[12:],
		"zero ciphertext":   strings.Repeat("0", 512),
		"flipped":           good[:100] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", good[100])+1)%16]) + good[101:],
		"no separator":      sealRaw(pad("447911123456")),
		"no digits":         sealRaw(pad("|")),
		"leading zero":      sealRaw(pad("0447911123456|")),
		"16 digits":         sealRaw(pad("4479111234561234|")),
		"bad fill":          sealRaw(pad("447911123456|AAA AAA")),
		"short plaintext":   sealRaw("447911123456|AAAA"),
	} {
		if n, err := Open(k, id); !errors.Is(err, ErrSubscriberID) {
			t.Errorf("%s: Open = %d, %v; want ErrSubscriberID", name, n, err)
		}
	}
}

func TestSealRefusesNonNumbers(t *testing.T) {
	k := testKeys()["red"]
	for _, n := range []uint64{0, 1e15, 1<<64 - 1} {
		if _, err := Seal(&k.PublicKey, n); err == nil {
			t.Errorf("Seal(%d) succeeded", n)
		}
	}
}

// The key cache parses a key once, and again when the operator's key
// changes.
func TestSealingKeyCache(t *testing.T) {
	keys := testKeys()
	var c sealingKeys
	op := &registry.Operator{ID: "red", SealingKey: publicPEM(keys["red"])}
	a, err := c.get(op)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.get(op); b != a {
		t.Error("an unchanged key was parsed again")
	}
	rotated := &registry.Operator{ID: "red", SealingKey: publicPEM(keys["blue"])}
	if b, _ := c.get(rotated); b == a || b.N.Cmp(keys["blue"].N) != 0 {
		t.Error("a rotated key was not picked up")
	}
	if _, err := c.get(&registry.Operator{ID: "plain"}); !errors.Is(err, errNoSealingKey) {
		t.Errorf("operator without key: %v", err)
	}
}
