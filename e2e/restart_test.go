package e2e

import (
	"slices"
	"testing"
)

// TestNodeRestartsFromItsDataDirectory: a node is stopped (SIGTERM) and
// started again on its data directory with its flags minus the join. It
// takes its place in the federation again, catches up on what was written
// while it was down, keeps its subscribers, and its gateway signs with the
// same keys as before, so tokens it issued stay verifiable and SPs' cached
// JWKS stay right.
func TestNodeRestartsFromItsDataDirectory(t *testing.T) {
	f := startFederation(t, ukDemo, deDemo, frDemo)
	s := f.registerSP()
	lead := f.leader()
	// A follower, so that the test is about the restart, not an election.
	n := f.nodes[len(f.nodes)-1]
	if n == lead {
		n = f.nodes[len(f.nodes)-2]
	}
	n.provision()
	kids := jwksKids(t, n)
	var before operatorRecord
	n.mustAdmin("GET", "/v1/operators/"+n.op.ID, nil, &before)

	if err := n.proc.stop(stopGrace); err != nil {
		t.Fatalf("%s did not stop cleanly on SIGTERM: %v", n.id, err)
	}
	// Written while it is down, by the federation admin (the first node's
	// admin token: it bootstrapped the federation), whose node forwards
	// it to the leader. n's operator's admin is down with n, and another
	// operator's node may not give n's operator a range.
	f.nodes[0].mustAdmin("PUT", "/v1/ranges/"+n.op.Spare, map[string]string{"operator": n.op.ID}, nil)

	n.restart()
	if l := f.leader(); l != lead {
		t.Errorf("after %s came back, %s leads, not %s", n.id, l.id, lead.id)
	}
	f.waitResolves(n.op.SpareNumber, n.op.ID)
	s.mustDiscoverNumber(t, n, n.op.SpareNumber, n.op)
	if after := jwksKids(t, n); !slices.Equal(after, kids) {
		t.Errorf("the gateway's signing keys changed across the restart: %v, then %v", kids, after)
	}
	// Node-local data is still there: the subscriber provisioned before.
	var sub struct {
		Status string `json:"status"`
	}
	if err := n.admin("GET", "/v1/subscribers/"+n.op.Number, nil, &sub); err != nil || sub.Status != "active" {
		t.Errorf("the subscriber provisioned before the restart: %+v %v", sub, err)
	}
	var after operatorRecord
	n.mustAdmin("GET", "/v1/operators/"+n.op.ID, nil, &after)
	if after.SealingKey != before.SealingKey || after.Issuer != before.Issuer || after.Status != "active" {
		t.Errorf("the operator record changed across the restart: %+v, then %+v", before, after)
	}
}

// jwksKids are the key ids the node's gateway publishes, sorted.
func jwksKids(t *testing.T, n *node) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := getJSON(n.publicURL()+"/jwks", &set); err != nil {
		t.Fatalf("JWKS of %s: %v", n.id, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	if len(kids) == 0 {
		t.Fatalf("%s publishes no signing key", n.id)
	}
	slices.Sort(kids)
	return kids
}
