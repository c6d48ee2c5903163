package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/mcfed/mcfed/client"
)

// registerLoadSPs registers n SPs for a login run through the federation's
// admin API, like the demo SP (its scopes and redirect URI), and returns
// their credentials. Re-running replaces them, with new secrets. Gateways
// throttle userinfo per SP, so a run with one SP measures that SP's limit,
// not the federation. idTokenAlg, unless "", is how they want their ID
// tokens signed.
func registerLoadSPs(ctx context.Context, info *client.DevInfo, n int, idTokenAlg string, log io.Writer) ([]client.DevSPInfo, error) {
	admin := &client.Admin{Base: info.Nodes[0].AdminURL, Token: info.AdminToken}
	sps := make([]client.DevSPInfo, n)
	for i := range sps {
		id := fmt.Sprintf("loadgen-sp-%d", i+1)
		secret := rand.Text() + rand.Text() // 52 base32 characters, fresh each run
		body := map[string]any{"name": "Load SP " + fmt.Sprint(i+1), "redirect_uris": []string{info.SP.RedirectURI},
			"scopes": info.SP.Scopes, "operators": []string{"*"}, "client_secret": secret}
		if idTokenAlg != "" {
			body["id_token_signed_response_alg"] = idTokenAlg
		}
		if err := admin.Do(ctx, "PUT", "/v1/service-providers/"+id, body, nil); err != nil {
			return nil, fmt.Errorf("register %s: %w", id, err)
		}
		sps[i] = info.SP
		sps[i].ClientID, sps[i].ClientSecret, sps[i].Name = id, secret, "Load SP "+fmt.Sprint(i+1)
	}
	// Every node answers discovery from its own replica: before the run,
	// have each one read at the leader's index (the registrations are the
	// last writes, so the last SP proves them all).
	for _, node := range info.Nodes {
		c := &client.Admin{Base: node.AdminURL, Token: info.AdminToken}
		if err := c.Do(ctx, "GET", "/v1/service-providers/"+sps[n-1].ClientID+"?consistent=true", nil, nil); err != nil {
			return nil, fmt.Errorf("wait for node %s to hold the load SPs: %w", node.ID, err)
		}
	}
	alg := idTokenAlg
	if alg == "" {
		alg = "the default"
	}
	fmt.Fprintf(log, "registered %d load SPs (loadgen-sp-1..%d), ID tokens %s\n", n, n, alg)
	return sps, nil
}
