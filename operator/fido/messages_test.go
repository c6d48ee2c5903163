package fido

import "testing"

func TestCataloguesComplete(t *testing.T) {
	if m := messages.Missing(); len(m) > 0 {
		t.Fatalf("missing texts: %v", m)
	}
}
