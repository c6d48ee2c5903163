package sms

import "testing"

func TestCatalogueIsComplete(t *testing.T) {
	if m := messages.Missing(); len(m) > 0 {
		t.Fatalf("texts missing: %v", m)
	}
}
