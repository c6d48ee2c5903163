package ota

import (
	"errors"
	"testing"
)

// TestPacketsOpenOnlyAsSent: a packet opens with its key, for its SIM, in
// its direction, once; a changed byte, another SIM, another key or an old
// counter does not.
func TestPacketsOpenOnlyAsSent(t *testing.T) {
	key := NewKey()
	p := Seal(key, ToSIM, 7, "447400111222", []byte("sign this"))
	c, got, err := Open(key, ToSIM, 6, "447400111222", p)
	if err != nil || c != 7 || string(got) != "sign this" {
		t.Fatalf("open: %d %q %v", c, got, err)
	}
	if n, ok := Counter(p); !ok || n != 7 {
		t.Fatalf("counter %d %v", n, ok)
	}
	for name, tc := range map[string]struct {
		key  Key
		dir  Direction
		last uint64
		sub  string
		p    []byte
		want error
	}{
		"a byte changed":      {key, ToSIM, 6, "447400111222", flip(p, len(p)-20), ErrChecksum},
		"the counter changed": {key, ToSIM, 6, "447400111222", flip(p, 9), ErrChecksum},
		"another SIM":         {key, ToSIM, 6, "447400111333", p, ErrChecksum},
		"another key":         {NewKey(), ToSIM, 6, "447400111222", p, ErrChecksum},
		"other direction":     {key, FromSIM, 6, "447400111222", p, ErrMalformed},
		"replayed":            {key, ToSIM, 7, "447400111222", p, ErrReplay},
		"truncated":           {key, ToSIM, 6, "447400111222", p[:12], ErrMalformed},
	} {
		if _, _, err := Open(tc.key, tc.dir, tc.last, tc.sub, tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func flip(p []byte, i int) []byte {
	q := append([]byte{}, p...)
	q[i] ^= 0x01
	return q
}
