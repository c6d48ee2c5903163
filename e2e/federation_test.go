package e2e

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/testca"
)

// Bounds of the harness's waits. They are generous: a 2-core CI machine
// runs the race-instrumented tests of other packages beside these.
const (
	readyTimeout    = 30 * time.Second // a node's first /readyz
	replicaTimeout  = 20 * time.Second // a committed write reaching a replica
	electionTimeout = 20 * time.Second // a new leader after the old one died
)

// federation is a federation under test: mcfed processes on loopback, each
// its operator's node, one Raft cluster between them, and the carrier side
// (SMSC, handset) they send SMS through.
type federation struct {
	t *testing.T
	// dir holds the nodes' data directories, logs, operator files and,
	// with TLS, certificates.
	dir string
	// adminToken is every node's --admin-token, unless ownTokens: then
	// each node has one of its own (node.adminToken), as competing
	// operators run theirs.
	adminToken string
	ownTokens  bool
	// ca, when set, signs a certificate for each node, which runs mutual
	// TLS (--tls-cert, --tls-key, --tls-ca); client trusts it.
	ca     *testca.CA
	client *http.Client
	phone  *phone
	nodes  []*node
}

// fedOption changes how a federation's nodes are started.
type fedOption func(*federation)

// withTLS makes the nodes run mutual TLS between them with certificates of
// a test CA, each naming its node id: the admin listeners serve HTTPS.
func withTLS() fedOption {
	return func(f *federation) {
		f.ca = testca.New(f.t)
		f.client = &http.Client{Timeout: httpClient.Timeout,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool, MinVersion: tls.VersionTLS13}}}
	}
}

// withOwnAdminTokens gives each node an admin token of its own.
func withOwnAdminTokens() fedOption { return func(f *federation) { f.ownTokens = true } }

// newFederation prepares an empty federation; its nodes are stopped and,
// if the test failed, their logs printed when the test ends.
func newFederation(t *testing.T, opts ...fedOption) *federation {
	f := &federation{t: t, dir: t.TempDir(), adminToken: "e2e-admin-" + randomHex(16), client: httpClient, phone: startPhone(t)}
	for _, o := range opts {
		o(f)
	}
	t.Cleanup(f.shutdown)
	return f
}

// startFederation starts one node per operator: the first bootstraps the
// federation, the others join it with tokens from its admin API. It returns
// once every node is ready and every operator's numbers are discoverable on
// every node.
func startFederation(t *testing.T, ops ...demoOperator) *federation {
	return newFederation(t).start(ops...)
}

// start is startFederation for a federation made with options.
func (f *federation) start(ops ...demoOperator) *federation {
	for _, op := range ops {
		f.addNode(op)
	}
	for _, op := range ops {
		f.waitResolves(op.Number, op.ID)
	}
	return f
}

// node is one mcfed process and what it needs to be started again.
type node struct {
	f       *federation
	id      string
	op      demoOperator
	dir     string // data directory
	logPath string
	proc    *process
	// adminToken is the node's --admin-token; joinedWith the join token
	// it was admitted with (spent).
	adminToken, joinedWith string
	// With TLS, the node's certificate, key and the CA's, as PEM files.
	certFile, keyFile, caFile string

	// Fixed at the first start, so that a restarted node is where its
	// peers and the registry expect it.
	raftAddr, adminAddr, publicAddr string
	// more are flags of every start beyond the harness's; issuer, when
	// set, is the operator's issuer instead of the node's public URL (a
	// node behind a load balancer: --public-url is in more).
	more   []string
	issuer string
}

func (n *node) adminURL() string {
	if n.f.ca != nil {
		return "https://" + n.adminAddr
	}
	return "http://" + n.adminAddr
}

func (n *node) publicURL() string { return "http://" + n.publicAddr }

// operatorIssuer is the issuer the node's operator record should carry.
func (n *node) operatorIssuer() string {
	if n.issuer != "" {
		return n.issuer
	}
	return n.publicURL()
}

// addNode starts a node for op: it bootstraps the federation if it is the
// first, otherwise it joins through a running member with a fresh join
// token, as an operator joining the consortium would. It returns once the
// node is ready and its operator record is in its replica.
func (f *federation) addNode(op demoOperator) *node {
	f.t.Helper()
	return f.addNodeAs("node-"+op.ID, op, "", nil)
}

// addReplica starts a node that serves no operator (a consortium's
// node: discovery and a replica of the registry), joining as addNode does.
func (f *federation) addReplica(id string) *node {
	f.t.Helper()
	return f.addNamed(id, id, demoOperator{}, "", nil)
}

// addNodeAs is addNode for a node named id with more flags on every
// start and, when issuer is not "", that issuer for its operator.
func (f *federation) addNodeAs(id string, op demoOperator, issuer string, more []string) *node {
	f.t.Helper()
	return f.addNamed(id, strings.TrimPrefix(id, "node-"), op, issuer, more)
}

// addNamed starts node id for op ("" ID: none), its files named name,
// with more flags on every start and, when issuer is not "", that issuer
// for its operator.
func (f *federation) addNamed(id, name string, op demoOperator, issuer string, more []string) *node {
	f.t.Helper()
	ports := freePorts(f.t, 3)
	n := &node{f: f, id: id, op: op, dir: filepath.Join(f.dir, name),
		logPath: filepath.Join(f.dir, name+".log"), raftAddr: ports[0], adminAddr: ports[1], publicAddr: ports[2],
		adminToken: f.adminToken, more: more, issuer: issuer}
	if f.ownTokens {
		n.adminToken = "e2e-admin-" + name + "-" + randomHex(16)
	}
	if f.ca != nil {
		n.certFile, n.keyFile, n.caFile = f.ca.NodeFiles(f.t, f.dir, n.id)
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	if op.ID != "" {
		n.writeOperatorFile()
	}
	var extra, env []string
	if len(f.nodes) == 0 {
		extra = []string{"--bootstrap"}
	} else {
		via := f.member()
		n.joinedWith = via.joinToken(n.id, op.ID)
		extra = []string{"--join", via.adminURL()}
		env = []string{"MCFED_JOIN_TOKEN=" + n.joinedWith}
	}
	f.nodes = append(f.nodes, n)
	n.start(extra, env)
	n.waitReady()
	if op.ID != "" {
		n.waitOperator()
	}
	return n
}

// writeOperatorFile writes what --operator-file takes: the operator's
// public metadata and numbering, which the node registers itself with.
func (n *node) writeOperatorFile() {
	b, err := json.Marshal(map[string]any{"name": n.op.Name, "country": n.op.Country, "currency": n.op.Currency,
		"networks": []string{n.op.Network}, "ranges": n.op.Ranges, "ip_ranges": []string{n.op.IPRange}})
	if err != nil {
		n.f.t.Fatal(err)
	}
	if err := os.WriteFile(n.operatorFile(), b, 0o600); err != nil {
		n.f.t.Fatal(err)
	}
}

func (n *node) operatorFile() string { return filepath.Join(n.f.dir, n.op.ID+"-operator.json") }

// flags are the node's flags on every start: a restart uses them alone.
func (n *node) flags() []string {
	flags := []string{"serve", "--node-id", n.id, "--data-dir", n.dir, "--raft-addr", n.raftAddr,
		"--admin-addr", n.adminAddr, "--public-addr", n.publicAddr}
	if n.certFile != "" {
		flags = append(flags, "--tls-cert", n.certFile, "--tls-key", n.keyFile, "--tls-ca", n.caFile)
	}
	flags = append(flags, n.more...)
	if n.op.ID == "" {
		return flags // a node of no operator: no gateway
	}
	flags = append(flags, "--operator", n.op.ID, "--operator-file", n.operatorFile())
	return append(flags, n.f.phone.smscFlags(n.op.Sender)...)
}

// start runs the node's process with its flags plus extra, and env on top
// of the test's environment. The admin token comes through the environment,
// as a container would pass it, so that it shows in no process listing.
func (n *node) start(extra, env []string) {
	n.f.t.Helper()
	env = append(append(nodeEnv(), "MCFED_ADMIN_TOKEN="+n.adminToken), env...)
	p, err := startProcess(mcfedBin, append(n.flags(), extra...), env, n.logPath)
	if err != nil {
		n.f.t.Fatalf("start %s: %v", n.id, err)
	}
	n.proc = p
}

// restart starts the node again on its data directory with its flags
// alone: no --bootstrap, no --join, as a node comes back after a reboot.
func (n *node) restart() {
	n.f.t.Helper()
	n.start(nil, nil)
	n.waitReady()
}

// alive says whether the node's process runs.
func (n *node) alive() bool { return n.proc != nil && !n.proc.exited() }

// waitReady waits until the node's /readyz says it serves a fresh replica.
// A process that exits meanwhile fails the test at once.
func (n *node) waitReady() {
	n.f.t.Helper()
	err := poll(readyTimeout, func() (bool, error) {
		if n.proc.exited() {
			return true, nil
		}
		err := callWith(n.f.client, "GET", n.adminURL()+"/readyz", "", nil, nil)
		return err == nil, err
	})
	if n.proc.exited() {
		n.f.t.Fatalf("%s exited while starting: %v", n.id, n.proc.err)
	}
	if err != nil {
		n.f.t.Fatalf("%s never became ready: %v", n.id, err)
	}
}

// waitOperator waits until the node's replica holds its operator's record,
// with the node's public URL as issuer: the node registered itself.
func (n *node) waitOperator() {
	n.f.t.Helper()
	err := poll(replicaTimeout, func() (bool, error) {
		var o operatorRecord
		err := n.admin("GET", "/v1/operators/"+n.op.ID, nil, &o)
		return err == nil && o.Issuer == n.operatorIssuer() && o.Status == "active", err
	})
	if err != nil {
		n.f.t.Fatalf("%s never registered operator %s: %v", n.id, n.op.ID, err)
	}
}

// operatorRecord is the part of the admin API's operator the tests read.
type operatorRecord struct {
	ID         string          `json:"id"`
	Issuer     string          `json:"issuer"`
	Status     string          `json:"status"`
	SealingKey string          `json:"sealing_key"`
	JWKS       json.RawMessage `json:"jwks"`
}

// admin calls the node's admin API with the node's admin token: the
// federation admin's on the node that bootstrapped the federation, else
// its operator's admin's.
func (n *node) admin(method, path string, body, out any) error {
	return n.as(n.adminToken, method, path, body, out)
}

// as calls the node's admin API with token.
func (n *node) as(token, method, path string, body, out any) error {
	return callWith(n.f.client, method, n.adminURL()+path, token, body, out)
}

// mustAdmin is admin, failing the test on an error.
func (n *node) mustAdmin(method, path string, body, out any) {
	n.f.t.Helper()
	if err := n.admin(method, path, body, out); err != nil {
		n.f.t.Fatal(err)
	}
}

// joinToken issues on the node a join token admitting node id as
// operator's gateway, retrying only while the cluster has no leader (503).
func (n *node) joinToken(id, operator string) string {
	n.f.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	err := poll(electionTimeout, func() (bool, error) {
		err := n.admin("POST", "/v1/cluster/join-tokens", map[string]any{"node_id": id, "operator": operator, "ttl_seconds": 600,
			"additional_gateway": n.f.additionalGateway(operator)}, &out)
		return err == nil || statusOf(err) != 503, err
	})
	if err == nil && out.Token == "" {
		err = fmt.Errorf("no token in the answer")
	}
	if err != nil {
		n.f.t.Fatalf("join token from %s: %v", n.id, err)
	}
	return out.Token
}

// clusterStatus is what /v1/cluster/status says.
type clusterStatus struct {
	Raft struct {
		State    string `json:"state"`
		LeaderID string `json:"leader_id"`
		Fresh    bool   `json:"fresh"`
	} `json:"raft"`
	Registry struct {
		AppliedIndex uint64 `json:"applied_index"`
	} `json:"registry"`
}

func (n *node) status() (clusterStatus, error) {
	var st clusterStatus
	return st, n.admin("GET", "/v1/cluster/status", nil, &st)
}

// member is a running node to send requests to.
func (f *federation) member() *node {
	f.t.Helper()
	for _, n := range f.nodes {
		if n.alive() {
			return n
		}
	}
	f.t.Fatal("no node of the federation runs")
	return nil
}

// additionalGateway says whether operator has a node already: a node
// joining for it is a further gateway node (registry.JoinToken).
func (f *federation) additionalGateway(operator string) bool {
	if operator == "" {
		return false // a replica serves no operator
	}
	for _, n := range f.nodes {
		if n.op.ID == operator {
			return true
		}
	}
	return false
}

// live are the running nodes.
func (f *federation) live() []*node {
	var out []*node
	for _, n := range f.nodes {
		if n.alive() {
			out = append(out, n)
		}
	}
	return out
}

// leader waits until every running node names the same running node as
// leader, and returns it.
func (f *federation) leader() *node {
	f.t.Helper()
	var lead *node
	err := poll(electionTimeout, func() (bool, error) {
		lead = nil
		for _, n := range f.live() {
			st, err := n.status()
			if err != nil {
				return false, err
			}
			l := f.byID(st.Raft.LeaderID)
			if l == nil || !l.alive() || (lead != nil && l != lead) {
				return false, fmt.Errorf("%s sees leader %q", n.id, st.Raft.LeaderID)
			}
			lead = l
		}
		return lead != nil, nil
	})
	if err != nil {
		f.t.Fatalf("no leader all running nodes agree on: %v", err)
	}
	return lead
}

func (f *federation) byID(id string) *node {
	for _, n := range f.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// resolve asks a node's admin API which operator serves number ("" none).
func (n *node) resolve(number string) (string, error) {
	var out struct {
		Operator string `json:"operator"`
	}
	err := n.admin("GET", "/v1/resolve/"+number, nil, &out)
	if statusOf(err) == 404 {
		return "", nil
	}
	return out.Operator, err
}

// waitResolves waits until every running node's replica says operator
// serves number.
func (f *federation) waitResolves(number, operator string) {
	f.t.Helper()
	for _, n := range f.live() {
		err := poll(replicaTimeout, func() (bool, error) {
			got, err := n.resolve(number)
			return got == operator, err
		})
		if err != nil {
			f.t.Fatalf("%s never resolved %s to %q: %v", n.id, number, operator, err)
		}
	}
}

// shutdown stops every node with SIGTERM, together, and prints their logs
// if the test failed. A node that must be killed after SIGTERM, or exits
// with an error, fails the test: a user's init system would see the same.
func (f *federation) shutdown() {
	var wg sync.WaitGroup
	errs := make([]error, len(f.nodes))
	for i, n := range f.nodes {
		if n.proc == nil || n.proc.exited() {
			continue
		}
		wg.Go(func() { errs[i] = n.proc.stop(stopGrace) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			f.t.Errorf("%s did not stop cleanly on SIGTERM: %v", f.nodes[i].id, err)
		}
	}
	if f.t.Failed() {
		for _, n := range f.nodes {
			f.t.Logf("log of %s (%s):\n%s", n.id, n.logPath, logTail(n.logPath))
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
