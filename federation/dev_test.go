package federation

import (
	"context"
	"strings"
	"testing"
)

// TestDevFederation runs what `mcfed dev` runs and checks what it promises:
// three nodes in one cluster, each demo number resolving to its operator on
// every node.
func TestDevFederation(t *testing.T) {
	var out strings.Builder
	d, err := StartDev(context.Background(), DevOptions{DataDir: t.TempDir(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !strings.Contains(out.String(), d.AdminToken) || !strings.Contains(out.String(), d.Nodes[0].AdminURL()) {
		t.Fatalf("the demo did not print its admin token and URLs:\n%s", out.String())
	}
	for i := range d.Nodes {
		for _, op := range devOperators {
			var res struct{ Operator string }
			if err := d.admin(i).Do(context.Background(), "GET", "/v1/resolve/"+op.number+"?consistent=true", nil, &res); err != nil {
				t.Fatalf("node %d resolving %s: %v", i, op.number, err)
			}
			if res.Operator != op.id {
				t.Fatalf("node %d resolves %s to %q, want %s", i, op.number, res.Operator, op.id)
			}
		}
	}
	var st struct {
		Raft struct{ Members []struct{ ID string } }
	}
	if err := d.admin(2).Do(context.Background(), "GET", "/v1/cluster/status", nil, &st); err != nil || len(st.Raft.Members) != 3 {
		t.Fatalf("cluster status: %+v, %v", st, err)
	}
}
