package federation

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/e164"
)

// importFed is a three-node federation with red and blue holding a range
// each, on every replica.
func importFed(t *testing.T) (f *testFed, a, b int) {
	f = startFed(t, 3)
	l := f.leader()
	f.do(l, "PUT", "/v1/operators/red", demoOperator("red", "234_10"), nil)
	f.do(l, "PUT", "/v1/operators/blue", demoOperator("blue", "234_20"), nil)
	f.do(l, "POST", "/v1/ranges/import", strings.NewReader("prefix,operator\n+447911,red\n"), nil)
	for _, n := range f.nodes {
		f.waitFor("the seed on every node", func() bool { return n.Raft().Registry().Range("+447911") != nil })
	}
	a, b = f.followers()
	return f, a, b
}

// followers returns two nodes that do not lead.
func (f *testFed) followers() (int, int) {
	f.waitFor("a leader", func() bool { return f.leaderIndex() >= 0 })
	var out []int
	for i := range f.nodes {
		if i != f.leaderIndex() {
			out = append(out, i)
		}
	}
	return out[0], out[1]
}

// TestPortImportsThroughFollowersAreReadAndDiffedAtTheLeadersIndex: an
// import through a follower answers once that follower applied it, and an
// un-port sent through another follower right after is diffed against the
// federation's state, not a lagging replica's, so it is not lost as
// "unchanged".
func TestPortImportsThroughFollowersAreReadAndDiffedAtTheLeadersIndex(t *testing.T) {
	f, a, b := importFed(t)
	for i := range 5 {
		msisdn := fmt.Sprintf("+447911123%03d", i)
		num, _ := e164.Parse(msisdn)
		var res importResult
		f.do(a, "POST", "/v1/ported/import", strings.NewReader("msisdn,operator\n"+msisdn+",blue\n"), &res)
		if res.Changed != 1 {
			t.Fatalf("port %s: %+v", msisdn, res)
		}
		if o := f.nodes[a].Raft().Registry().Ported(num); o == nil || o.ID != "blue" {
			t.Fatalf("node %d answered the import of %s before it applied it: ported to %v", a, msisdn, o)
		}
		f.do(b, "POST", "/v1/ported/import", strings.NewReader("msisdn,operator\n"+msisdn+",\n"), &res)
		if res.Changed != 1 {
			t.Fatalf("the un-port of %s right after its port was judged %+v", msisdn, res)
		}
		if p := f.problemOf(f.leader(), "GET", "/v1/ported/"+msisdn+"?consistent=true", nil); p.Status != 404 {
			t.Fatalf("%s after its un-port: %d", msisdn, p.Status)
		}
	}
}

// TestRangeImportsThroughFollowersAreReadAndDiffedAtTheLeadersIndex: the
// same for ranges: a file imported through one follower and again right
// after through another changes nothing the second time.
func TestRangeImportsThroughFollowersAreReadAndDiffedAtTheLeadersIndex(t *testing.T) {
	f, a, b := importFed(t)
	for i := range 5 {
		prefix := fmt.Sprintf("+44792%d", i)
		file := "prefix,operator\n" + prefix + ",red\n"
		var res importResult
		f.do(a, "POST", "/v1/ranges/import", strings.NewReader(file), &res)
		if res.Changed != 1 {
			t.Fatalf("import %s: %+v", prefix, res)
		}
		if f.nodes[a].Raft().Registry().Range(prefix) == nil {
			t.Fatalf("node %d answered the import of %s before it applied it", a, prefix)
		}
		f.do(b, "POST", "/v1/ranges/import", strings.NewReader(file), &res)
		if res.Changed != 0 || res.Unchanged != 1 {
			t.Fatalf("the same file right after, through another follower: %+v, want nothing changed", res)
		}
	}
}
