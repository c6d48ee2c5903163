package dev

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// TestDevFederation runs what `mcfed dev` runs and checks what it promises:
// three nodes in one cluster, each demo number resolving to its operator on
// every node.
func TestDevFederation(t *testing.T) {
	var out strings.Builder
	d, dir := startDev(t, &out)
	if !strings.Contains(out.String(), d.AdminToken) || !strings.Contains(out.String(), d.Nodes[0].AdminURL()) ||
		!strings.Contains(out.String(), d.Info().SP.PageURL) || !strings.Contains(out.String(), filepath.Join(dir, client.DevInfoFile)) {
		t.Fatalf("the demo did not print its admin token, URLs and dev.json:\n%s", out.String())
	}
	for i := range d.Nodes {
		for _, op := range operators {
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

// TestDevJSONDrivesTheDemo: a script that knows only dev.json (in the data
// directory) can use everything it lists: discovery on every node for every
// demo number with the SP's credentials and redirect URI, each operator's
// admin API (its demo subscribers) with the admin token, the handset's
// inboxes and the SP's page.
func TestDevJSONDrivesTheDemo(t *testing.T) {
	_, dir := startDev(t, nil)
	info, err := client.ReadDevInfo(filepath.Join(dir, client.DevInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Nodes) != 3 || len(info.Operators) != 3 || info.DiscoveryURL != info.Nodes[0].DiscoveryURL {
		t.Fatalf("dev.json: %+v", info)
	}
	ctx := context.Background()
	for _, op := range info.Operators {
		if len(op.DemoNumbers) == 0 || len(op.Ranges) == 0 {
			t.Fatalf("operator %s has no demo numbers or ranges in dev.json", op.ID)
		}
		for _, number := range op.DemoNumbers {
			for _, node := range info.Nodes {
				disc := discoverAt(t, node.DiscoveryURL, info.SP, number)
				if disc.Response.ServingOperator != op.Name || disc.Links()["issuer"] != op.Issuer {
					t.Fatalf("%s through %s: %+v, want %s at %s", number, node.ID, disc.Response, op.Name, op.Issuer)
				}
			}
			admin := &client.Admin{Base: op.AdminURL, Token: info.AdminToken}
			if err := admin.Do(ctx, "GET", "/v1/subscribers/"+number, nil, nil); err != nil {
				t.Fatalf("demo subscriber %s at %s's admin API: %v", number, op.ID, err)
			}
			req, _ := http.NewRequest("GET", info.Handset.MessagesURL(number), nil)
			var inbox struct{ MSISDN string }
			if getJSON(t, http.DefaultClient, req, 200, &inbox); "+"+inbox.MSISDN != number {
				t.Fatalf("handset inbox of %s: %+v", number, inbox)
			}
		}
	}
	resp, err := http.Get(info.SP.PageURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(info.SP.RedirectURI, strings.TrimSuffix(info.SP.PageURL, "/")) {
		t.Fatalf("SP page %s: %d, redirect URI %s", info.SP.PageURL, resp.StatusCode, info.SP.RedirectURI)
	}
}

// TestDiscoveryAcrossTheFederation: an SP asks any node about any demo
// number; the answer names the serving operator, and its subscriber_id
// opens with that operator's private keys (in its own node's data
// directory), for that SP, and with no other operator's. Demo gateways
// open the symmetric form, which discovery uses once the asked node's seal
// key is in its replica, RSA before.
func TestDiscoveryAcrossTheFederation(t *testing.T) {
	d, _ := startDev(t, nil)
	// Each operator's node opens with its operator's keys, as its gateway
	// does.
	gateways := map[string]*federation.Node{}
	for i, op := range operators {
		gateways[op.id] = d.Nodes[i]
	}
	open := func(id, sub, clientID string) (uint64, error) {
		return gateways[id].OpenSubscriberID(sub, clientID)
	}
	// The demo's gateways all open the symmetric form: wait until every
	// node's replica holds every node's seal key and every operator's
	// form, so that the answers below are all in it.
	deadline := time.Now().Add(30 * time.Second)
	for !symmetricEverywhere(d) {
		if time.Now().After(deadline) {
			t.Fatal("the nodes' seal keys and the operators' symmetric form are not in every replica after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, node := range d.Nodes {
		for _, op := range operators {
			form := url.Values{"MSISDN": {strings.TrimPrefix(op.number, "+")}, "Redirect_URL": {spRedirect}, "correlation_id": {"c-" + op.id}}
			req, _ := http.NewRequest("POST", node.PublicURL()+"/v2/discovery", strings.NewReader(form.Encode()))
			req.SetBasicAuth("demo-sp", d.SPSecret)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				SubscriberID  string `json:"subscriber_id"`
				CorrelationID string `json:"correlation_id"`
				Response      struct {
					ServingOperator string `json:"serving_operator"`
				} `json:"response"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("node %d, %s: %d %v", i, op.number, resp.StatusCode, err)
			}
			if body.Response.ServingOperator != op.name || body.CorrelationID != "c-"+op.id {
				t.Fatalf("node %d answers %s with %+v", i, op.number, body)
			}
			want, _ := e164.Parse(op.number)
			if !discovery.IsSymmetric(body.SubscriberID) {
				t.Fatalf("node %d seals %s's number in RSA, not the form its gateway opens", i, op.id)
			}
			if _, err := open(op.id, body.SubscriberID, "another-sp"); err == nil {
				t.Fatalf("a subscriber_id sealed for demo-sp opens for another SP")
			}
			for id := range gateways {
				got, err := open(id, body.SubscriberID, "demo-sp")
				if id == op.id && (err != nil || got != want) {
					t.Fatalf("%s's key opens the subscriber_id from node %d to %d, %v", id, i, got, err)
				}
				if id != op.id && err == nil {
					t.Fatalf("%s's key opened a subscriber_id sealed for %s", id, op.id)
				}
			}
		}
	}
}

// symmetricEverywhere reports whether every node's replica holds every
// node's seal key and every operator's symmetric form.
func symmetricEverywhere(d *Federation) bool {
	for _, n := range d.Nodes {
		reg := n.Raft().Registry()
		for _, m := range d.Nodes {
			if rec := reg.Node(m.Raft().ID()); rec == nil || len(rec.SealKeys) == 0 {
				return false
			}
		}
		for _, op := range operators {
			if o := reg.Operator(op.id); o == nil || !o.Opens(registry.FormX25519AESGCM) {
				return false
			}
		}
	}
	return true
}

// TestEachNodeIsItsOperatorsGateway: the metadata of each demo node names
// its operator's issuer byte for byte, and discovery's openid-configuration
// link for a number leads to it.
func TestEachNodeIsItsOperatorsGateway(t *testing.T) {
	d, _ := startDev(t, nil)
	for i, op := range operators {
		o := d.Nodes[0].Raft().Registry().Operator(op.id)
		resp, err := http.Get(o.URLs().OpenIDConfiguration)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || m.Issuer != o.Issuer || m.Issuer != d.Nodes[i].PublicURL() {
			t.Fatalf("%s metadata: %d %+v %v (issuer registered %q)", op.id, resp.StatusCode, m, err, o.Issuer)
		}
	}
}

// TestSubscriberDataStaysOnItsNode: a subscriber provisioned on the UK
// operator's node is in that node's store only: the other nodes' admin APIs
// do not know it, and the replicated registry's snapshot does not hold it.
func TestSubscriberDataStaysOnItsNode(t *testing.T) {
	d, _ := startDev(t, nil)
	ctx := context.Background()
	sub := map[string]any{"msisdn": operators[0].number, "status": "active",
		"attributes": map[string]any{"given_name": "Ada", "family_name": "Zyxwvutsrq"}}
	// The demo already has this subscriber: replace its attributes.
	if err := d.admin(0).Do(ctx, "PUT", "/v1/subscribers/"+operators[0].number, sub, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := d.admin(0).Do(ctx, "GET", "/v1/subscribers/"+operators[0].number, nil, &got); err != nil {
		t.Fatal(err)
	}
	if err := d.admin(1).Do(ctx, "GET", "/v1/subscribers/"+operators[0].number, nil, nil); err == nil {
		t.Fatal("another operator's node serves the UK subscriber")
	}
	for i, n := range d.Nodes {
		var buf strings.Builder
		if _, err := n.Raft().Registry().Snapshot().WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "Zyxwvutsrq") {
			t.Fatalf("node %d's registry snapshot holds subscriber data", i)
		}
	}
	// Without the admin token the store is not reachable.
	anon := &client.Admin{Base: d.Nodes[0].AdminURL()}
	if err := anon.Do(ctx, "GET", "/v1/subscribers/"+operators[0].number, nil, nil); err == nil {
		t.Fatal("the subscriber store answered without the admin token")
	}
}
