package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// DevOptions configures the demo federation.
type DevOptions struct {
	DataDir string    // an empty directory; "" makes a temporary one
	Out     io.Writer // where the URLs and demo data are printed
}

// Dev is a demo federation running in this process: three operators' nodes
// on loopback, one Raft cluster between them, the simulated handset and the
// demo SP's web page.
type Dev struct {
	Nodes      []*Node
	phone      *devPhone
	sp         *devSP
	AdminToken string
	// SPSecret is the demo SP's client secret (client id "demo-sp").
	SPSecret string
	// InfoPath is the dev.json written in the data directory.
	InfoPath string
	info     DevInfo
	dir      string
	ownDir   bool
}

// devOperator is one demo operator with the numbers it serves. The numbers
// are real-format and valid (phonenumbers accepts them), in ranges no
// operator uses for subscribers in this form.
type devOperator struct {
	id, name, country, currency, network string
	prefixes                             []string
	number                               string   // a demo subscriber
	more                                 []string // more demo subscribers
}

// profile is what the operator's node registers about it when it starts,
// as a production node does from `mcfed serve --operator-file`: the node
// adds its issuer and its public keys, which only it holds.
func (op devOperator) profile() *OperatorProfile {
	return &OperatorProfile{Name: op.name, Country: op.country, Currency: op.currency,
		Networks: []string{op.network}, Ranges: op.prefixes}
}

// numbers are the operator's demo subscribers. More than one each, so that
// a person trying the demo SP again and again does not meet the SMS
// authenticator's sending limit (5 per number per 15 minutes) at once.
func (op devOperator) numbers() []string { return append([]string{op.number}, op.more...) }

// Demo SP registration. Besides the SP page's callback it keeps
// devRedirect, a URI no server answers, for scripts and tests that play
// the SDK's part without a web server (the re-poll ends in its redirect).
const (
	devSPClientID = "demo-sp"
	devSPName     = "Demo Shop"
	devRedirect   = "http://127.0.0.1/callback"
)

var devSPScopes = []string{"openid", "mc_authn", "profile", "email", "phone"}

var devOperators = []devOperator{
	{"uk-demo", "Demo Mobile UK", "GB", "GBP", "234_99", []string{"+447400", "+447401"}, "+447400123456",
		[]string{"+447400765432", "+447401234567"}},
	{"de-demo", "Demo Mobil DE", "DE", "EUR", "262_99", []string{"+49151", "+49160"}, "+4915112345678",
		[]string{"+4915187654321", "+4916012345678"}},
	{"fr-demo", "Démo Mobile FR", "FR", "EUR", "208_99", []string{"+33612", "+33613"}, "+33612345678",
		[]string{"+33612987654", "+33613456789"}},
}

// StartDev starts the demo federation: node 1 bootstraps, nodes 2 and 3 join
// it with tokens issued by its admin API; each node registers its operator
// and ranges from the operator's profile, and the catalogue, the demo
// subscribers and a demo SP are written through the admin API as an
// operator would.
func StartDev(ctx context.Context, opts DevOptions) (_ *Dev, err error) {
	d := &Dev{AdminToken: randomToken(), dir: opts.DataDir}
	if entries, _ := os.ReadDir(d.dir); d.dir != "" && len(entries) > 0 {
		// The demo picks free ports at each start, so a previous run's Raft
		// addresses would be stale.
		return nil, fmt.Errorf("%s is not empty: the demo starts from an empty directory", d.dir)
	}
	if d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "mcfed-dev-"); err != nil {
			return nil, err
		}
		d.ownDir = true
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if d.phone, err = startDevPhone(logger); err != nil {
		return nil, err
	}
	// The SP page's port must be known before the SP is registered with
	// its callback as redirect URI.
	if d.sp, err = listenDevSP(); err != nil {
		return nil, err
	}
	for i, op := range devOperators {
		cfg := Config{
			NodeID: "node-" + op.id, DataDir: filepath.Join(d.dir, op.id), AdminToken: d.AdminToken,
			RaftAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0",
			OperatorID: op.id, Operator: op.profile(), Logger: logger, SMSC: d.phone.smppConfig("MobConnect"),
		}
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = d.Nodes[0].AdminURL()
			if cfg.JoinToken, err = d.joinToken(ctx); err != nil {
				return nil, err
			}
		}
		cfg.Raft.LogOutput = io.Discard
		n, err := Start(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", cfg.NodeID, err)
		}
		d.Nodes = append(d.Nodes, n)
	}
	if err := d.seed(ctx); err != nil {
		return nil, err
	}
	// Every node has the demo registry before the demo is announced.
	for _, n := range d.Nodes {
		if err := waitRegistry(ctx, n, "the demo registry", hasDemoRegistry); err != nil {
			return nil, err
		}
	}
	d.sp.serve(devSPConfig{ClientID: devSPClientID, Secret: d.SPSecret, Name: devSPName,
		Scope: strings.Join(devSPScopes, " "), Discovery: d.discoveryURLs(), DemoNumbers: allDemoNumbers(),
		HandsetURL: d.phone.URL()})
	d.info = d.describe()
	if d.InfoPath, err = writeDevInfo(d.dir, d.info); err != nil {
		return nil, err
	}
	if opts.Out != nil {
		d.print(opts.Out)
	}
	return d, nil
}

func (d *Dev) discoveryURLs() []string {
	var out []string
	for _, n := range d.Nodes {
		out = append(out, n.PublicURL()+"/v2/discovery")
	}
	return out
}

func allDemoNumbers() []string {
	var out []string
	for _, op := range devOperators {
		out = append(out, op.numbers()...)
	}
	return out
}

// Info describes the running demo, as dev.json holds it.
func (d *Dev) Info() DevInfo { return d.info }

func (d *Dev) describe() DevInfo {
	info := DevInfo{AdminToken: d.AdminToken,
		SP: DevSPInfo{ClientID: devSPClientID, ClientSecret: d.SPSecret, Name: devSPName, Scopes: devSPScopes,
			RedirectURI: d.sp.CallbackURL(), PageURL: d.sp.URL()},
		Handset: DevHandsetInfo{PageURL: d.phone.URL(), APIURL: d.phone.URL()}}
	for i, op := range devOperators {
		n := d.Nodes[i]
		info.Nodes = append(info.Nodes, DevNodeInfo{ID: n.cfg.NodeID, Operator: op.id, PublicURL: n.PublicURL(),
			DiscoveryURL: n.PublicURL() + "/v2/discovery", AdminURL: n.AdminURL()})
		info.Operators = append(info.Operators, DevOperatorInfo{ID: op.id, Name: op.name, Issuer: n.PublicURL(),
			PublicURL: n.PublicURL(), AdminURL: n.AdminURL(), Ranges: op.prefixes, DemoNumbers: op.numbers()})
	}
	info.DiscoveryURL = info.Nodes[0].DiscoveryURL
	return info
}

func (d *Dev) admin(i int) *AdminClient {
	return &AdminClient{Base: d.Nodes[i].AdminURL(), Token: d.AdminToken}
}

func (d *Dev) joinToken(ctx context.Context) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := retry(ctx, func() error {
		return d.admin(0).Do(ctx, "POST", "/v1/cluster/join-tokens", map[string]int{"ttl_seconds": 300}, &out)
	})
	return out.Token, err
}

// retry calls f until it succeeds or 30 s pass: the first calls of a new
// cluster meet an election in progress.
func retry(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var api *APIError
		if errors.As(err, &api) && api.Status != 503 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// seed writes the rest of the demo registry, and each operator's demo
// subscribers through the admin API of the operator's own node, once that
// node has registered its operator.
func (d *Dev) seed(ctx context.Context) error {
	for _, s := range []string{"openid", "mc_authn", "mc_authz", "profile", "email", "phone", "address",
		"mc_identity_phonenumber", "mc_identity_signup", "mc_identity_nationalid", "mc_kyc_plain", "mc_kyc_hashed"} {
		if err := retry(ctx, func() error {
			return d.admin(0).Do(ctx, "PUT", "/v1/scopes/"+s, registry.Scope{Name: s}, nil)
		}); err != nil {
			return fmt.Errorf("seed scope %s: %w", s, err)
		}
	}
	for i, op := range devOperators {
		n := d.Nodes[i]
		if err := waitRegistry(ctx, n, "operator "+op.id+" and its ranges", op.registered); err != nil {
			return err
		}
		// The demo subscribers live in their own operator's store only.
		for k, number := range op.numbers() {
			email := "demo@" + op.id + ".example"
			if k > 0 {
				email = fmt.Sprintf("demo%d@%s.example", k+1, op.id)
			}
			sub := map[string]any{"msisdn": number, "status": "active", "attributes": map[string]any{
				"given_name": "Demo", "family_name": "Subscriber " + op.country, "email": email,
				"email_verified": true, "birthdate": "1990-01-01"}}
			if err := d.admin(i).Do(ctx, "POST", "/v1/subscribers", sub, nil); err != nil {
				return fmt.Errorf("seed the subscriber %s of %s: %w", number, op.id, err)
			}
		}
	}
	sp := map[string]any{"client_id": devSPClientID, "name": devSPName,
		"redirect_uris": []string{d.sp.CallbackURL(), devRedirect}, "scopes": devSPScopes}
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := d.admin(0).Do(ctx, "PUT", "/v1/service-providers/"+devSPClientID, sp, &created); err != nil {
		return fmt.Errorf("seed SP: %w", err)
	}
	d.SPSecret = created.ClientSecret
	return nil
}

// waitRegistry polls a node's registry until cond holds. A node registers
// its operator in the background once it has joined, and the admin API
// answers a write once raft.Node.WaitApplied returns, which can be a moment
// before the node's registry has applied it (hashicorp/raft counts an entry
// applied when it hands it to the FSM): the demo checks the registry itself
// before it relies on a write.
func waitRegistry(ctx context.Context, n *Node, what string, cond func(*registry.Registry) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !cond(n.Raft().Registry()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has not reached node %s: %w", what, n.cfg.NodeID, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// registered: the operator and its ranges are in the registry.
func (op devOperator) registered(r *registry.Registry) bool {
	if r.Operator(op.id) == nil {
		return false
	}
	for _, p := range op.prefixes {
		if r.Range(p) == nil {
			return false
		}
	}
	return true
}

// hasDemoRegistry: the demo SP, the operators and their ranges.
func hasDemoRegistry(r *registry.Registry) bool {
	if r.ServiceProvider(devSPClientID) == nil {
		return false
	}
	for _, op := range devOperators {
		if !op.registered(r) {
			return false
		}
	}
	return true
}

func (d *Dev) print(w io.Writer) {
	fmt.Fprintf(w, "mcfed demo federation: %d nodes in one Raft cluster, state in %s\n\n", len(d.Nodes), d.dir)
	fmt.Fprintf(w, "admin token: %s\n\n", d.AdminToken)
	for i, op := range devOperators {
		n := d.Nodes[i]
		fmt.Fprintf(w, "%-8s %-16s admin %s  public %s  ranges %s  demo numbers %s\n",
			op.id, op.name, n.AdminURL(), n.PublicURL(), strings.Join(op.prefixes, " "), strings.Join(op.numbers(), " "))
	}
	fmt.Fprintf(w, "\nlog in with Mobile Connect (the demo SP's page): %s\n", d.sp.URL())
	fmt.Fprintf(w, "simulated handset (the demo numbers' SMS): %s\n", d.phone.URL())
	fmt.Fprintf(w, "\ndemo SP: client_id %s, client_secret %s, redirect %s\n", devSPClientID, d.SPSecret, d.sp.CallbackURL())
	fmt.Fprintf(w, "all of this as JSON: %s\n", d.InfoPath)
	fmt.Fprintf(w, "\ndiscovery on any node, e.g. for the French demo number through the UK node:\n"+
		"  curl -u %s:%s -H 'Accept: application/json' -d 'MSISDN=%s' --data-urlencode 'Redirect_URL=%s' %s/v2/discovery\n",
		devSPClientID, d.SPSecret, strings.TrimPrefix(devOperators[2].number, "+"), d.sp.CallbackURL(), d.Nodes[0].PublicURL())
	fmt.Fprintf(w, "which operator serves a number (admin API):\n  curl -H 'Authorization: Bearer %s' %s/v1/resolve/%s\n",
		d.AdminToken, d.Nodes[1].AdminURL(), devOperators[2].number)
	fmt.Fprintf(w, "\nCtrl-C stops the federation.\n")
}

// Close stops every node, and removes the state directory the demo made.
func (d *Dev) Close() error {
	var errs []error
	for i := len(d.Nodes) - 1; i >= 0; i-- {
		errs = append(errs, d.Nodes[i].Close())
	}
	if d.sp != nil {
		errs = append(errs, d.sp.Close())
	}
	if d.phone != nil {
		errs = append(errs, d.phone.Close())
	}
	if d.ownDir {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	return errors.Join(errs...)
}
