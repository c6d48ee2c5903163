package federation

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// competitors is a federation of the consortium's node (n1, which
// bootstrapped it: its admin token is the federation admin's) and one node
// for each of the operators a, b and c, each started with an admin token of
// its own, as competing operators run theirs.
type competitors struct {
	*testFed
	node  map[string]*Node  // by operator
	token map[string]string // each operator's node's --admin-token
}

var competitorPlan = []struct{ id, network, prefix, number, cidr string }{
	{"a", "234_71", "+447911", "+447911000001", "10.71.0.0/16"},
	{"b", "234_72", "+447912", "+447912000001", "10.72.0.0/16"},
	{"c", "234_73", "+447913", "+447913000001", "10.73.0.0/16"},
}

func startCompetitors(t *testing.T) *competitors {
	f := startFed(t, 1)
	c := &competitors{testFed: f, node: map[string]*Node{}, token: map[string]string{}}
	for _, p := range competitorPlan {
		cfg := testNodeConfig(t, "node-"+p.id, filepath.Join(t.TempDir(), p.id))
		cfg.AdminToken = "admin-token-of-operator-" + p.id
		cfg.PublicAddr, cfg.OperatorID = "127.0.0.1:0", p.id
		cfg.Operator = &OperatorProfile{Name: "Operator " + p.id, Country: "GB", Currency: "GBP",
			Networks: []string{p.network}, Ranges: []string{p.prefix}, IPRanges: []string{p.cidr}}
		cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, cfg.NodeID, p.id)
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, n)
		f.dirs = append(f.dirs, cfg.DataDir)
		c.node[p.id], c.token[p.id] = n, cfg.AdminToken
	}
	for _, p := range competitorPlan {
		<-c.node[p.id].onboarded
	}
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	f.do(0, "POST", "/v1/service-providers", map[string]any{"client_id": "shop", "name": "Shop",
		"redirect_uris": []string{"https://shop.example/cb"}, "scopes": []string{"openid"}}, nil)
	c.settle()
	return c
}

// settle waits until every replica has applied what the leader has.
func (c *competitors) settle() {
	c.t.Helper()
	idx := c.nodes[c.leader()].Raft().Registry().AppliedIndex()
	for i := range c.nodes {
		c.waitApplied(i, idx)
	}
}

// as calls operator op's node's admin API with its own admin token.
func (c *competitors) as(op string) *client.Admin {
	return &client.Admin{Base: c.node[op].AdminURL(), Token: c.token[op]}
}

// replicaState is what a replica holds, but for the audit log, as JSON: two
// replicas with one state print the same.
func replicaState(r *registry.Registry) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	_ = enc.Encode(r.Operators("", 1000))
	_ = enc.Encode(r.Ranges("", "", 1000))
	_ = enc.Encode(r.IPRanges("", "", 1000))
	_ = enc.Encode(r.ServiceProviders("", 1000))
	_ = enc.Encode(r.Nodes("", 1000))
	_ = enc.Encode(r.Credentials("", 1000))
	for _, p := range competitorPlan {
		_ = enc.Encode(r.SPPolicies(p.id, "", 1000))
	}
	_ = enc.Encode(r.PortedCount())
	return b.String()
}

// statusOf is the status of an admin API answer (0 for none, or no error).
func statusOf(err error) int {
	if api, ok := err.(*client.APIError); ok {
		return api.Status
	}
	return 0
}
