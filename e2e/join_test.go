package e2e

import "testing"

// TestOperatorJoinsUnderLoad: a third operator joins a running federation
// while SPs hammer discovery on the two existing nodes. No discovery
// request fails, and once the newcomer's registration is committed its
// numbers are discoverable on every node, pointing at its own node.
func TestOperatorJoinsUnderLoad(t *testing.T) {
	f := startFederation(t, ukDemo, deDemo)
	s := f.registerSP()
	existing := f.live()
	for _, n := range existing {
		if status, _, err := s.discover(httpClient, n.publicURL(), frDemo.Number); err != nil || status != 404 {
			t.Fatalf("before it joined, %s answered %d (%v) for the newcomer's number", n.id, status, err)
		}
	}

	load := startLoad(t, s, existing, ukDemo, deDemo)
	load.waitServed(t, 100)
	fr := f.addNode(frDemo)

	for _, n := range f.nodes {
		for _, number := range []string{frDemo.Number, frDemo.Second} {
			var a discoveryAnswer
			err := poll(replicaTimeout, func() (bool, error) {
				status, ans, err := s.discover(httpClient, n.publicURL(), number)
				a = ans
				return status == 200 && ans.Response.ServingOperator == frDemo.Name, err
			})
			if err != nil {
				t.Fatalf("%s never discovered the newcomer's %s: %v (last answer %+v)", n.id, number, err, a)
			}
			if a.link("authorization") != fr.publicURL()+"/authorize" {
				t.Errorf("%s sends %s to %q, not to the newcomer's node", n.id, number, a.link("authorization"))
			}
		}
	}
	// The newcomer answers for the members it joined, from its replica.
	for _, op := range []demoOperator{ukDemo, deDemo} {
		s.mustDiscover(t, fr, op)
	}
	load.check(t)
}
