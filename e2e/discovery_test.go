package e2e

import (
	"encoding/hex"
	"net/url"
	"testing"
)

// TestDiscoveryOnEveryNode: in a federation of three operators, each its
// own process, an SP asking any node about any operator's number gets that
// operator, with the endpoints of that operator's own node and the number
// sealed for it. Without a number, the address of the user's mobile data
// connection finds the operator the same way. A number no operator serves
// is unknown everywhere.
func TestDiscoveryOnEveryNode(t *testing.T) {
	ops := []demoOperator{ukDemo, deDemo, frDemo}
	f := startFederation(t, ops...)
	s := f.registerSP()
	for _, asked := range f.nodes {
		for i, op := range ops {
			owner := f.nodes[i]
			a := s.mustDiscover(t, asked, op)
			if a.Response.Country != op.Country || a.Response.ClientID != s.clientID {
				t.Errorf("%s on %s: country %q client_id %q", op.Number, asked.id, a.Response.Country, a.Response.ClientID)
			}
			for rel, path := range map[string]string{"issuer": "", "authorization": "/authorize", "token": "/token",
				"userinfo": "/userinfo", "jwks": "/jwks"} {
				if got := a.link(rel); got != owner.publicURL()+path {
					t.Errorf("%s on %s: link %s = %q, want %s's %q", op.Number, asked.id, rel, got, owner.id, owner.publicURL()+path)
				}
			}
			// Sealed, in hex: the symmetric form (61 bytes, version 1)
			// every mcfed gateway opens, or RSA-2048 while the asked
			// node's seal key is not yet in its replica; that it opens
			// at the right operator is what the login test shows.
			if b, err := hex.DecodeString(a.SubscriberID); err != nil || len(b) != 256 && (len(b) != 61 || b[0] != 1) {
				t.Errorf("%s on %s: subscriber_id %q is no sealed number", op.Number, asked.id, a.SubscriberID)
			}
			status, a, err := s.discoverWith(httpClient, asked.publicURL(), url.Values{"Local-Client-IP": {op.IP}})
			if err != nil || status != 200 || a.Response.ServingOperator != op.Name || a.link("authorization") != owner.publicURL()+"/authorize" {
				t.Errorf("discovery of %s's IP %s on %s: %d %+v %v", op.ID, op.IP, asked.id, status, a, err)
			}
		}
		status, a, err := s.discover(httpClient, asked.publicURL(), unservedNumber)
		if err != nil || status != 404 || a.Error != "Not_Found_Entity" {
			t.Errorf("discovery of unserved %s on %s: %d %+v %v", unservedNumber, asked.id, status, a, err)
		}
	}
}
