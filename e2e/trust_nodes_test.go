package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// What b's node can try with its own identity (its certificate and node
// credential), and joins that would change the cluster's membership: a
// spent token replayed, a token presented by another node id, a node
// whose certificate names another node.

// nodeClient is an HTTP client presenting the certificate in certFile and
// keyFile, trusting the federation's CA.
func (tf *trustFed) nodeClient(certFile, keyFile string) *http.Client {
	tf.t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		tf.t.Fatal(err)
	}
	return &http.Client{Timeout: httpClient.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: tf.ca.Pool, MinVersion: tls.VersionTLS13}}}
}

// internalApply posts cmd to n's internal apply endpoint as node id with
// secret, over c; it returns the status and the wire code of a refusal,
// which must come as problem+json.
func internalApply(c *http.Client, n *node, id, secret string, cmd []byte) (int, string, error) {
	req, err := http.NewRequest("POST", n.adminURL()+"/v1/internal/apply", bytes.NewReader(cmd))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Mcfed-Node", id)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 && ct != "application/problem+json" {
		return resp.StatusCode, body.Code, fmt.Errorf("a refusal as %q, not problem+json", ct)
	}
	return resp.StatusCode, body.Code, nil
}

// bNodeIsRefused: b's node credential and certificate, which b's node uses
// to forward writes to the leader, write nothing of a's: a's record
// rewritten in its own name is forbidden, a command stating another
// author is invalid, and the credential counts only under b's node id with
// the certificate b's node joined with.
func (tf *trustFed) bNodeIsRefused() {
	t := tf.t
	secretBytes, err := os.ReadFile(filepath.Join(tf.b.dir, "node-secret"))
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(secretBytes))
	var rec registry.Operator
	tf.a.mustAdmin("GET", "/v1/operators/"+ukDemo.ID, nil, &rec)
	var bRec operatorRecord
	tf.b.mustAdmin("GET", "/v1/operators/"+deDemo.ID, nil, &bRec)
	rec.Meta, rec.Slot = registry.Meta{}, 0
	rec.Issuer, rec.SealingKey = bRec.Issuer, bRec.SealingKey
	hijack := registry.MustEncode(registry.CmdPutOperator, rec)
	claimingA, err := registry.EncodeAuthored(registry.Header{Author: registry.Author{Credential: "admin:" + tf.a.id,
		Kind: registry.KindAdmin, Role: registry.RoleOperatorAdmin, Operator: ukDemo.ID}, Time: time.Now().UnixMilli()}, hijack)
	if err != nil {
		t.Fatal(err)
	}
	bCert := tf.nodeClient(tf.b.certFile, tf.b.keyFile)
	// Certificates the federation's CA signed, but not the one b's node
	// joined with: one naming b's node, one naming a's.
	dir := t.TempDir()
	otherB, otherBKey, _ := tf.ca.NodeFiles(t, dir, tf.b.id)
	namingA, namingAKey, _ := tf.ca.NodeFiles(t, dir, tf.a.id)

	before := tf.views()
	leader := tf.leader()
	for _, at := range []struct {
		name   string
		client *http.Client
		id     string
		cmd    []byte
		status int
		code   string
	}{
		{"rewrites a's record as itself", bCert, tf.b.id, hijack, 403, "forbidden"},
		{"sends a's record rewrite stating a's admin as its author", bCert, tf.b.id, claimingA, 400, "invalid"},
		{"presents its secret as a's node", bCert, tf.a.id, hijack, 401, "cluster_auth"},
		{"presents its secret with another certificate naming it", tf.nodeClient(otherB, otherBKey), tf.b.id, hijack, 401, "cluster_auth"},
		{"presents its secret with a certificate naming a's node", tf.nodeClient(namingA, namingAKey), tf.b.id, hijack, 401, "cluster_auth"},
	} {
		status, code, err := internalApply(at.client, leader, at.id, secret, at.cmd)
		if err != nil || status != at.status || code != at.code {
			t.Errorf("b's node %s: %d %q %v, want %d %q", at.name, status, code, err, at.status, at.code)
		}
	}
	// Only the first reached the registry, which judged and recorded it.
	tf.expect("put_operator", credential{id: "node:" + tf.b.id, operator: deDemo.ID}, registry.OutcomeRefused, registry.CodeForbidden)
	tf.unchanged("b's node's refused writes", before)
}

// joinRequest is what a node posts to /v1/cluster/join.
type joinRequest struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	AdminURL     string `json:"admin_url"`
	Token        string `json:"token"`
	NodeVerifier string `json:"node_verifier"`
	Operator     string `json:"operator,omitempty"`
}

// joinsAreNotReplayed: b's spent join token, replayed by b's node id with
// b's certificate; a fresh token presented by another node id; a node
// started as a process with that token but a certificate naming a's node;
// and a process claiming a's node id with b's certificate: each is
// refused, and no replica's membership, nodes or credentials change.
func (tf *trustFed) joinsAreNotReplayed() {
	t := tf.t
	var fresh struct {
		Token string `json:"token"`
	}
	tf.b.mustAs(tf.fed, "POST", "/v1/cluster/join-tokens", map[string]any{"node_id": "node-d", "operator": deDemo.ID, "ttl_seconds": 600}, &fresh)
	tf.expect("put_join_token", tf.fed, registry.OutcomeApplied, "")
	before := tf.views()

	ports := freePorts(t, 2)
	join := func(what string, c *http.Client, req joinRequest) {
		t.Helper()
		req.RaftAddr, req.AdminURL, req.NodeVerifier = ports[0], "https://"+ports[1], registry.HashSecret(randomHex(32))
		err := callWith(c, "POST", tf.a.adminURL()+"/v1/cluster/join", "", req, nil)
		wantProblem(t, what, err, 403, "join-token", "")
	}
	bCert := tf.nodeClient(tf.b.certFile, tf.b.keyFile)
	join("b's spent join token replayed by b's node", bCert, joinRequest{ID: tf.b.id, Token: tf.b.joinedWith, Operator: deDemo.ID})
	eCert, eKey, _ := tf.ca.NodeFiles(t, t.TempDir(), "node-e")
	join("node-d's token presented by node-e", tf.nodeClient(eCert, eKey), joinRequest{ID: "node-e", Token: fresh.Token, Operator: deDemo.ID})

	// Processes, as an operator's engineer would start them: refused, they
	// exit with the member's refusal and are in no configuration.
	dir := t.TempDir()
	namingA, namingAKey, caFile := tf.ca.NodeFiles(t, dir, tf.a.id)
	for _, p := range []struct {
		what, id, cert, key string
	}{
		{"node-d with a certificate naming a's node", "node-d", namingA, namingAKey},
		{"a's node id with b's certificate", tf.a.id, tf.b.certFile, tf.b.keyFile},
	} {
		tf.forgedJoin(p.what, p.id, p.cert, p.key, caFile, fresh.Token)
	}
	tf.unchanged("refused joins", before)
}

// forgedJoin starts a node as id presenting cert, joining through a with
// token, and waits for it to exit refused.
func (tf *trustFed) forgedJoin(what, id, cert, key, caFile, token string) {
	t := tf.t
	t.Helper()
	ports := freePorts(t, 3)
	dir := t.TempDir()
	logPath := filepath.Join(tf.dir, "forged-"+randomHex(4)+".log")
	args := []string{"serve", "--node-id", id, "--data-dir", dir, "--raft-addr", ports[0], "--admin-addr", ports[1],
		"--public-addr", ports[2], "--tls-cert", cert, "--tls-key", key, "--tls-ca", caFile, "--join", tf.a.adminURL()}
	env := append(nodeEnv(), "MCFED_JOIN_TOKEN="+token, "MCFED_ADMIN_TOKEN=e2e-forged-"+randomHex(16))
	p, err := startProcess(mcfedBin, args, env, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	err = poll(readyTimeout, func() (bool, error) { return p.exited(), nil })
	if err != nil {
		t.Fatalf("%s: the process still runs: %v\n%s", what, err, logTail(logPath))
	}
	if p.err == nil {
		t.Errorf("%s: the process exited cleanly, want a refused join\n%s", what, logTail(logPath))
	}
	if log := logTail(logPath); !strings.Contains(log, "certificate that names it") {
		t.Errorf("%s: the log does not say why the join was refused:\n%s", what, log)
	}
}

// mustAs is as, failing the test on an error.
func (n *node) mustAs(c credential, method, path string, body, out any) {
	n.f.t.Helper()
	if err := n.as(c.token, method, path, body, out); err != nil {
		n.f.t.Fatal(err)
	}
}
