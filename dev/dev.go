// Package dev runs `mcfed dev`: a demo federation in one process, three
// operators' nodes on loopback in one Raft cluster, with a simulated SMSC, an
// MSSP, a handset whose numbers each have a simulated SIM applet (and the
// first number of each operator a passkey on the phone), each operator's
// mobile-data gateway (seamless login: mobiledata.go), and the demo SP's
// web page. It drives the nodes only as an
// operator would, through federation.Start and their admin APIs (it reads
// a node's replica only to wait for its own writes to arrive), and
// describes itself in dev.json (client.DevInfo) for scripts and the load
// generator.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/dev/demosp"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/registry"
)

// Options configures the demo federation.
type Options struct {
	// DataDir is where the demo keeps its state: a new or empty directory
	// starts a new demo, a previous demo's directory resumes it (the same
	// credentials, subscribers, keys and, when free, ports); "" makes a
	// temporary one, removed at Close.
	DataDir string
	// Reset empties a previous demo's DataDir first, to start over. A
	// directory that holds anything else is never emptied.
	Reset bool
	Out   io.Writer // where the URLs and demo data are printed
	// Logger receives the nodes' request log and the demo SP's and the
	// handset's lines; nil logs warnings and errors to stderr.
	Logger *slog.Logger
	// Stores gives operators (by id) a PostgreSQL state store of their
	// own (a postgres:// URL, one database per operator) instead of the
	// embedded one in their data directory: the benchmarks compare them.
	Stores map[string]string
}

// Federation is a demo federation running in this process: three
// operators' nodes on loopback, one Raft cluster between them, the
// simulated handset and the demo SP's web page.
type Federation struct {
	Nodes []*federation.Node
	phone *Phone
	// mobile are the operators' simulated mobile-data gateways (seamless
	// login), in the order of operators; none where the system has no
	// loopback address besides 127.0.0.1.
	mobile     []*mobileData
	sp         *demosp.SP
	network    *simNetwork
	AdminToken string
	// SPSecret is the demo SP's client secret (client id "demo-sp").
	SPSecret string
	// InfoPath is the dev.json written in the data directory.
	InfoPath string
	// Resumed is true when the demo was started again on a previous
	// demo's data directory.
	Resumed bool
	info    client.DevInfo
	dir     string
	ownDir  bool
}

// operator is one demo operator with the numbers it serves. The numbers
// are real-format and valid (phonenumbers accepts them), in ranges no
// operator uses for subscribers in this form.
type operator struct {
	id, name, country, currency, network string
	prefixes                             []string
	color                                string   // the look of its gateway's pages
	number                               string   // a demo subscriber
	more                                 []string // more demo subscribers
}

// numbers are the operator's demo subscribers. More than one each, so that
// a person trying the demo SP again and again does not meet the SMS
// authenticator's sending limit (5 per number per 15 minutes) at once.
func (op operator) numbers() []string { return append([]string{op.number}, op.more...) }

// nodeID is the id of the operator's node.
func (op operator) nodeID() string { return "node-" + op.id }

// profile is what the operator's node registers about it when it starts,
// as a production node does from `mcfed serve --operator-file`: the node
// adds its issuer and its public keys, which only it holds.
func (op operator) profile() *federation.OperatorProfile {
	return &federation.OperatorProfile{Name: op.name, Country: op.country, Currency: op.currency,
		Networks: []string{op.network}, Ranges: op.prefixes, Color: op.color}
}

// Demo SP registration. Besides the SP page's callback it keeps
// spRedirect, a URI no server answers, for scripts and tests that play
// the SDK's part without a web server (the re-poll ends in its redirect).
const (
	spClientID = "demo-sp"
	spName     = "Demo Shop"
	spRedirect = "http://127.0.0.1/callback"
)

// spScopes are every product the operators' gateways implement (idgw and
// operator/datagateway): the demo's catalogue, all allowed to the demo SP
// so that each can be tried from its page.
var spScopes = []string{"openid", "mc_authn", "mc_authz", "profile", "email", "phone", "address",
	"mc_identity_phonenumber", "mc_phonenumber", "mc_identity_signup", "mc_identity_signupplus", "mc_signup",
	"mc_identity_nationalid", "mc_nationalid", "mc_kyc_plain", "mc_kyc_hashed", "mc_atp"}

var operators = []operator{
	{"uk-demo", "Demo Mobile UK", "GB", "GBP", "234_99", []string{"+447400", "+447401"}, "#6d28d9", "+447400123456",
		[]string{"+447400765432", "+447401234567"}},
	{"de-demo", "Demo Mobil DE", "DE", "EUR", "262_99", []string{"+49151", "+49160"}, "#c2185b", "+4915112345678",
		[]string{"+4915187654321", "+4916012345678"}},
	{"fr-demo", "Démo Mobile FR", "FR", "EUR", "208_99", []string{"+33612", "+33613"}, "#bf360c", "+33612345678",
		[]string{"+33612987654", "+33613456789"}},
}

// Start starts the demo federation: node 1 bootstraps, nodes 2 and 3 join
// it with tokens issued by its admin API; each node registers its operator
// and ranges from the operator's profile, and the catalogue, the demo
// subscribers and a demo SP are written through the admin API as an
// operator would. On a previous demo's data directory the nodes restart on
// their own directories (no join), and only the catalogue and the SP's
// registration are written again.
func Start(ctx context.Context, opts Options) (_ *Federation, err error) {
	d := &Federation{dir: opts.DataDir}
	var prev *state
	if d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "mcfed-dev-"); err != nil {
			return nil, err
		}
		d.ownDir = true
	} else if prev, err = openDir(d.dir, opts.Reset); err != nil {
		return nil, err
	}
	st := prev
	if st == nil {
		// The SP's secret is the demo's own, so that it can be kept in the
		// state and registered again, unchanged, at each start.
		st = &state{AdminToken: randomToken(), SPSecret: randomToken(), Nodes: make([]nodePorts, len(operators))}
	}
	d.AdminToken, d.SPSecret, d.Resumed = st.AdminToken, st.SPSecret, prev != nil
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if d.phone, err = StartPhone(PhoneConfig{SMSCAddr: sameOrAny(st.SMSC), MSSPAddr: sameOrAny(st.MSSP), HandsetAddr: sameOrAny(st.Handset),
		SystemID: devSMSCSystemID, Password: devSMSCPassword, Logger: logger}); err != nil {
		return nil, err
	}
	// The SP page's port must be known before the SP is registered with
	// its callback as redirect URI.
	if d.sp, err = demosp.Listen(sameOrAny(st.SPPort)); err != nil {
		return nil, err
	}
	if d.network, err = newSimNetwork(); err != nil {
		return nil, err
	}
	for i, op := range operators {
		ports := st.Nodes[i]
		src, seamless := mobileDataSource(i)
		public, publicURL, err := publicListener(ports.Public)
		if err != nil {
			return nil, err
		}
		cfg := federation.Config{
			NodeID: op.nodeID(), DataDir: filepath.Join(d.dir, op.id), AdminToken: d.AdminToken,
			RaftAddr: same(ports.Raft), AdminAddr: same(ports.Admin), PublicAddr: public.Addr().String(), PublicListener: public, PublicURL: publicURL,
			OperatorID: op.id, Operator: op.profile(), Logger: logger, SMSC: d.phone.smppConfig("MobConnect"),
			// SMS first (level 2), then passkeys (level 3, for those who
			// added one on the gateway's connected-services page, and the
			// first demo number's on the phone, reached by a push to the
			// simulated handset), then the SIM applet: its click-OK at
			// level 2 after SMS, its PIN level 3 for everyone else.
			Authenticators: []federation.AuthenticatorConfig{{Type: "sms"}, d.phone.fido(), d.phone.simApplet()},
			// No send budgets: every login comes from one loopback
			// address, and loadgen drives thousands a minute.
			SendBudgets: idgw.SendBudgets{Window: time.Hour},
			// CIBA login_hint=ipport: names a demo number by its
			// address on the operator's simulated network.
			AddressResolver: d.network.of(op.id),
		}
		if seamless {
			// Seamless login for requests through the operator's
			// mobile-data gateway (mobiledata.go): tried first at level 2
			// wherever it applies.
			cfg.Authenticators = append(cfg.Authenticators, seamlessRow(src))
		}
		if url := opts.Stores[op.id]; url != "" {
			// A shared store keeps the operator's keys under a key of
			// its own, made once beside the operator's data.
			cfg.Store, cfg.KEKFile = url, filepath.Join(d.dir, op.id+"-kek")
			if err := ensureKEK(cfg.KEKFile); err != nil {
				return nil, err
			}
		}
		switch {
		case i == 0:
			// A no-op on a restart: the node's Raft state exists.
			cfg.Bootstrap = true
		case !d.Resumed:
			cfg.Join = d.Nodes[0].AdminURL()
			if cfg.JoinToken, err = d.joinToken(ctx, cfg.NodeID, op.id); err != nil {
				return nil, err
			}
		}
		// Raft's elections are the demo's noise unless asked for.
		cfg.Raft.Logger = slog.New(slog.DiscardHandler)
		if logger.Enabled(ctx, slog.LevelDebug) {
			cfg.Raft.Logger = logger.With("node", cfg.NodeID)
		}
		n, err := federation.Start(ctx, cfg)
		if err != nil {
			if d.Resumed {
				return nil, fmt.Errorf("restart %s on %s (its Raft and admin ports must be free again; --reset starts over): %w",
					cfg.NodeID, cfg.DataDir, err)
			}
			return nil, fmt.Errorf("start %s: %w", cfg.NodeID, err)
		}
		d.Nodes = append(d.Nodes, n)
		if seamless {
			addr := "127.0.0.1:0"
			if i < len(st.MobileData) {
				addr = sameOrAny(st.MobileData[i])
			}
			m, err := startMobileData(addr, op.id, op.number, n.PublicURL(), src, logger)
			if err != nil {
				return nil, err
			}
			d.mobile = append(d.mobile, m)
		}
		st.Nodes[i] = nodePorts{Raft: portOf(n.Raft().Addr()), Admin: portOf(n.AdminURL()), Public: portOf(n.PublicURL())}
	}
	st.SPPort, st.Handset, st.SMSC, st.MSSP = portOf(d.sp.URL()), portOf(d.phone.URL()), portOf(d.phone.smsc.Addr()), portOf(d.phone.mssp.URL())
	st.MobileData = nil
	for _, m := range d.mobile {
		st.MobileData = append(st.MobileData, portOf(m.URL()))
	}
	if err := st.save(d.dir); err != nil {
		return nil, err
	}
	if err := d.seed(ctx); err != nil {
		return nil, err
	}
	// Every node has the demo registry before the demo is announced.
	for i, n := range d.Nodes {
		if err := waitRegistry(ctx, n, operators[i].nodeID(), "the demo registry", hasDemoRegistry); err != nil {
			return nil, err
		}
	}
	d.sp.Serve(demosp.Config{ClientID: spClientID, Secret: d.SPSecret, Name: spName,
		Scopes: spScopes, Discovery: d.discoveryURLs(), DemoNumbers: allDemoNumbers(),
		HandsetURL: d.phone.URL(), Logger: logger})
	d.info = d.describe()
	if d.InfoPath, err = writeInfo(d.dir, d.info); err != nil {
		return nil, err
	}
	if opts.Out != nil {
		d.print(opts.Out)
	}
	return d, nil
}

func (d *Federation) discoveryURLs() []string {
	var out []string
	for _, n := range d.Nodes {
		out = append(out, n.PublicURL()+"/v2/discovery")
	}
	return out
}

func allDemoNumbers() []string {
	var out []string
	for _, op := range operators {
		out = append(out, op.numbers()...)
	}
	return out
}

func (d *Federation) admin(i int) *client.Admin {
	return &client.Admin{Base: d.Nodes[i].AdminURL(), Token: d.AdminToken}
}

// joinToken issues a join token admitting node as operator's gateway.
func (d *Federation) joinToken(ctx context.Context, node, operator string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	req := map[string]any{"node_id": node, "operator": operator, "ttl_seconds": 300}
	err := client.Retry(ctx, func() error {
		return d.admin(0).Do(ctx, "POST", "/v1/cluster/join-tokens", req, &out)
	})
	return out.Token, err
}

// seed writes the rest of the demo registry, and each operator's demo
// subscribers through the admin API of the operator's own node, once that
// node has registered its operator. A resumed demo keeps its subscribers
// as they were left (a developer may have changed them); the catalogue and
// the SP are written again, the same, so that a newer demo's products and
// the SP page's callback on a new port are registered.
func (d *Federation) seed(ctx context.Context) error {
	for _, s := range spScopes {
		// The first node seeds the standard scopes itself: writing their
		// standard definition again changes nothing. The demo adds those
		// beyond the standard (mc_atp).
		sc, ok := registry.StandardScope(s)
		if !ok {
			sc = registry.Scope{Name: s}
		}
		if err := client.Retry(ctx, func() error {
			return d.admin(0).Do(ctx, "PUT", "/v1/scopes/"+s, sc, nil)
		}); err != nil {
			return fmt.Errorf("seed scope %s: %w", s, err)
		}
	}
	for i, op := range operators {
		if err := waitRegistry(ctx, d.Nodes[i], op.nodeID(), "operator "+op.id+" and its ranges", op.registered); err != nil {
			return err
		}
		if !d.Resumed {
			// The demo subscribers live in their own operator's store only.
			for k, number := range op.numbers() {
				sub := map[string]any{"msisdn": number, "status": "active", "attributes": demoAttributes(op, k)}
				if err := d.admin(i).Do(ctx, "POST", "/v1/subscribers", sub, nil); err != nil {
					return fmt.Errorf("seed the subscriber %s of %s: %w", number, op.id, err)
				}
			}
		}
		// Every demo subscriber gets a new simulated SIM at each start (the
		// handset keeps its SIMs in memory), enrolled with the MSSP and
		// with the operator's node, as an operator enrols a SIM it issues.
		for _, number := range op.numbers() {
			card, err := d.phone.addSIM(number)
			if err != nil {
				return fmt.Errorf("a SIM for %s: %w", number, err)
			}
			sim := map[string]any{"public_key": card.PublicKey, "capabilities": []string{"ok", "pin"}}
			if err := d.admin(i).Do(ctx, "PUT", "/v1/subscribers/"+number+"/sim-applet", sim, nil); err != nil {
				return fmt.Errorf("enrol the SIM of %s at %s: %w", number, op.id, err)
			}
		}
		if err := d.enrolPhonePasskey(ctx, i, op.number); err != nil {
			return err
		}
	}
	sp := map[string]any{"client_id": spClientID, "name": spName, "client_secret": d.SPSecret,
		"redirect_uris": []string{d.sp.CallbackURL(), spRedirect}, "scopes": spScopes}
	if err := client.Retry(ctx, func() error {
		return d.admin(0).Do(ctx, "PUT", "/v1/service-providers/"+spClientID, sp, nil)
	}); err != nil {
		return fmt.Errorf("seed SP: %w", err)
	}
	return nil
}

// waitRegistry polls a node's registry until cond holds. A node registers
// its operator in the background once it has joined, and a write answered
// by node 0's admin API is applied there but may not have reached the other
// replicas yet: the demo checks each node's registry before it relies on a
// write there. The bound is generous: on a busy two-core machine three
// nodes' elections, joins and onboarding took more than 10 s.
func waitRegistry(ctx context.Context, n *federation.Node, id, what string, cond func(*registry.Registry) bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond(n.Raft().Registry()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has not reached node %s: %w", what, id, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// registered: the operator and its ranges are in the registry.
func (op operator) registered(r *registry.Registry) bool {
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
	if r.ServiceProvider(spClientID) == nil {
		return false
	}
	for _, op := range operators {
		if !op.registered(r) {
			return false
		}
	}
	return true
}

func (d *Federation) print(w io.Writer) {
	verb := "started"
	if d.Resumed {
		verb = "resumed"
	}
	fmt.Fprintf(w, "mcfed demo federation %s: %d nodes in one Raft cluster, state in %s\n\n", verb, len(d.Nodes), d.dir)
	fmt.Fprintf(w, "admin token: %s\n\n", d.AdminToken)
	for i, op := range operators {
		n := d.Nodes[i]
		fmt.Fprintf(w, "%-8s %-16s admin %s  public %s  ranges %s  demo numbers %s\n",
			op.id, op.name, n.AdminURL(), n.PublicURL(), strings.Join(op.prefixes, " "), strings.Join(op.numbers(), " "))
	}
	fmt.Fprintf(w, "\nlog in with Mobile Connect (the demo SP's page): %s\n", d.sp.URL())
	fmt.Fprintf(w, "simulated handset (the demo numbers' SMS and SIM prompts; every SIM's PIN is %s): %s\n", devSIMPIN, d.phone.URL())
	var first []string
	for _, op := range operators {
		first = append(first, op.number)
	}
	fmt.Fprintf(w, "level 3 with FIDO on the phone: %s each have a passkey on the handset; ask level 3 on the demo SP's page\n"+
		"  and confirm on the number's handset page (the other numbers reach level 3 with the SIM's PIN)\n", strings.Join(first, " "))
	if len(d.mobile) > 0 {
		fmt.Fprintf(w, "seamless login: a browser whose HTTP proxy is an operator's simulated mobile data is that line's phone on mobile data;\n"+
			"  log in at level 2 with that number and the gateway asks nothing (amr SEAM_OK), e.g.\n"+
			"  chromium --proxy-server=%s --proxy-bypass-list='<-loopback>' %s\n", d.mobile[0].URL(), d.sp.URL())
		for _, m := range d.mobile {
			fmt.Fprintf(w, "  %-8s mobile data of %s: %s\n", m.op, m.line, m.URL())
		}
	}
	if a, ok := d.network.address(operators[0].number); ok {
		fmt.Fprintf(w, "CIBA login_hint ipport: each demo number has a loopback address on its operator's simulated network, "+
			"127.0.1.<n> for the n-th number listed above (e.g. ipport:%s:59028 for %s)\n", a, operators[0].number)
	}
	fmt.Fprintf(w, "\ndemo SP: client_id %s, client_secret %s, redirect %s\n", spClientID, d.SPSecret, d.sp.CallbackURL())
	fmt.Fprintf(w, "all of this as JSON: %s\n", d.InfoPath)
	fmt.Fprintf(w, "\ndiscovery on any node, e.g. for the French demo number through the UK node:\n"+
		"  curl -u %s:%s -H 'Accept: application/json' -d 'MSISDN=%s' --data-urlencode 'Redirect_URL=%s' %s/v2/discovery\n",
		spClientID, d.SPSecret, strings.TrimPrefix(operators[2].number, "+"), d.sp.CallbackURL(), d.Nodes[0].PublicURL())
	fmt.Fprintf(w, "which operator serves a number (admin API):\n  curl -H 'Authorization: Bearer %s' %s/v1/resolve/%s\n",
		d.AdminToken, d.Nodes[1].AdminURL(), operators[2].number)
	if d.ownDir {
		fmt.Fprintf(w, "\nCtrl-C stops the federation and removes its state (--data-dir keeps it for the next start).\n")
	} else {
		fmt.Fprintf(w, "\nCtrl-C stops the federation; started again with --data-dir %s it resumes (--reset starts over).\n", d.dir)
	}
}

// Close stops every node, and removes the state directory the demo made.
func (d *Federation) Close() error {
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
	for _, m := range d.mobile {
		errs = append(errs, m.Close())
	}
	if d.ownDir {
		errs = append(errs, os.RemoveAll(d.dir))
	}
	return errors.Join(errs...)
}

// randomToken returns 256 random bits, base64url, as the node's own
// secrets are.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ensureKEK makes a key-encryption key file of 32 random bytes at path,
// unless there is one.
func ensureKEK(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(path, key, 0o600)
}
