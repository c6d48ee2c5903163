// Package federation assembles an mcfed node from its parts: the Raft
// server with the registry's replica and the write path (raft), the admin
// API (admin), discovery, the operator's gateway and its keys, onboarding
// and observability. It is the only package that knows all the others.
//
// A file per concern: node.go starts and stops the node and builds its
// admin app; config.go holds every default and check of a node's settings
// (main only parses flags); join.go is the joining node's side of a join,
// and datadir.go undoes what a failed start made; warnings.go says what
// leaves a running node useless for part of its job; keys.go is the custody of what stays in the
// data directory (signing and sealing keys, selection key); credentials.go
// the node's own credential and admin token and the leader's authenticator;
// portdeadlines.go decides port requests whose deadline passed; public.go and gateway.go build the public listener (discovery, the
// operator's gateway); authenticators.go is the one table of authenticator
// types, so idgw imports none of them; operator.go and operatorview.go are
// the gateway's views of the subscriber store and of the registry;
// onboard.go publishes the operator's record and ranges; observe.go,
// metrics.go and logging.go are what an operator watches.
package federation

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/internal/version"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/simapplet"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/subscribers"
	"github.com/mcfed/mcfed/raft"
)

// SMSCConfig is how a node binds to its operator's SMSC over SMPP.
type SMSCConfig = smpp.Config

// Node is a running mcfed node.
type Node struct {
	cfg      Config
	raft     *raft.Node // the replica, the one write path and consistent reads
	admin    *fiber.App
	public   *fiber.App
	adminLn  net.Listener
	publicLn net.Listener
	metrics  *metrics
	subs     *subscribers.Store // the operator's subscribers, when OperatorID is set
	state    state.Store        // the operator's login state, when OperatorID is set
	keys     *jose.KeyRing      // the gateway's signing keys, when OperatorID is set
	sealing  *sealingKeys       // the operator's subscriber_id keys, when OperatorID is set
	nodeSeal *nodeSealKeys      // discovery's seal keys, with a public listener (nodesealkeys.go)
	vault    *keyVault          // where the operator's keys are kept (keyvault.go)
	// onboarded is closed once the node has published its operator (or
	// given up: the node is closing, or the registry refused the profile).
	onboarded chan struct{}
	// closers are what the authenticators hold open (an SMSC's
	// connection), closed with the node.
	closers []io.Closer
	// sims are the SIM applet enrolments in the state store, when
	// OperatorID is set.
	sims *simapplet.Enrolments
	// enrolments are where routing finds the enrolments authenticators
	// keep themselves (the SIMs'; a constructor may add its own).
	enrolments []enrolmentSource
	auth       *authenticator
	openapi    openapiDocs // what /openapi.json answers on each listener
	// noAuthenticator: the gateway was built with no authenticator
	// (warnings.go).
	noAuthenticator atomic.Bool
	// gateway is the operator's gateway once the public listener has
	// mounted it: the admin API's consent routes reach it (consents.go).
	gateway atomic.Pointer[idgw.Gateway]
	// fido is the gateway's FIDO authenticator, when it runs one: the
	// admin API enrols passkeys on the subscribers' phones with it.
	fido atomic.Pointer[fido.Authenticator]
	log  *slog.Logger
	// started: Start returned the node, whose Close logs its end.
	started bool
	// ctx ends when the node closes, stopping its background loops.
	ctx  context.Context
	stop context.CancelFunc
}

// Start opens the node's Raft server and listeners, bootstraps or joins the
// federation, and serves. A node restarted on the same data directory takes
// its place again without joining anew.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	defer func() {
		// Owned from here: a start that fails before the node holds it
		// closes it too.
		if err != nil && cfg.PublicListener != nil {
			cfg.PublicListener.Close()
		}
	}()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.withDefaults(); err != nil {
		return nil, &ConfigError{[]error{err}}
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), onboarded: make(chan struct{})}
	n.ctx, n.stop = context.WithCancel(context.Background())
	// A start that fails (a join refused, a port taken) leaves the data
	// directory as it found it: a half-made raft.db would make the next
	// start take it for a member's.
	before, err := listTree(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	defer func() {
		if err != nil {
			n.Close()
			if rerr := before.removeNew(); rerr != nil {
				n.log.Error("removing what the failed start made in the data directory", "dir", cfg.DataDir, "err", rerr)
			}
		}
	}()

	if n.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if cfg.RaftTLS != nil {
		server := cfg.RaftTLS.Clone()
		// Admins' scripts reach the admin API with a bearer token and need
		// no certificate; a certificate that is offered must verify.
		server.ClientAuth = tls.VerifyClientCertIfGiven
		n.adminLn = tls.NewListener(n.adminLn, server)
		client.Transport = &http.Transport{TLSClientConfig: cfg.RaftTLS.Clone()}
	}
	if cfg.wrapTransport != nil {
		base := client.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		client.Transport = cfg.wrapTransport(base)
	}
	switch {
	case cfg.PublicListener != nil:
		n.publicLn = cfg.PublicListener
	case cfg.PublicAddr != "":
		if n.publicLn, err = net.Listen("tcp", cfg.PublicAddr); err != nil {
			return nil, fmt.Errorf("public listener: %w", err)
		}
	}

	// The metrics read the node's Raft server only when scraped: made
	// first, they observe every write from the start.
	n.metrics = newMetrics(n)
	rc := cfg.Raft
	rc.ID, rc.DataDir, rc.Bind, rc.TLS, rc.Bootstrap = cfg.NodeID, filepath.Join(cfg.DataDir, "raft"), cfg.RaftAddr, cfg.RaftTLS, cfg.Bootstrap
	n.auth = newAuthenticator(n)
	rc.Client, rc.ObserveWrite, rc.Authenticator = client, n.metrics.ObserveApply, n.auth
	if rc.Logger == nil {
		rc.Logger = n.log
	}
	rn, err := raft.Open(rc)
	if err != nil {
		return nil, err
	}
	n.raft = rn

	secret, err := readNodeSecret(cfg.DataDir)
	switch {
	case err == nil:
		rn.SetNodeSecret(secret)
	case errors.Is(err, os.ErrNotExist) && cfg.Bootstrap:
		secret = randomToken()
		rn.SetNodeSecret(secret)
		if err := writeNodeSecret(cfg.DataDir, secret); err != nil {
			return nil, fmt.Errorf("node secret: %w", err)
		}
	case errors.Is(err, os.ErrNotExist) && cfg.Join != "":
		secret = randomToken()
		rn.SetNodeSecret(secret)
		req, err := n.joinRequest(secret)
		if err != nil {
			return nil, err
		}
		if err := n.join(ctx, client, rn.Addr(), req); err != nil {
			return nil, err
		}
		if err := writeNodeSecret(cfg.DataDir, secret); err != nil {
			return nil, fmt.Errorf("node secret: %w", err)
		}
	case errors.Is(err, os.ErrNotExist) && fileExists(filepath.Join(cfg.DataDir, "cluster-secret")):
		return nil, errors.New("this data directory was made by a build before node credentials, whose members this " +
			"build does not adopt in place: make the federation anew and load its registry into it (README, " +
			"\"Coming from one admin token per node\")")
	case errors.Is(err, os.ErrNotExist):
		return nil, errors.New("this data directory belongs to no federation: start with --bootstrap or --join")
	default:
		return nil, fmt.Errorf("node secret: %w", err)
	}

	retireSubscribersFile := func() {}
	if cfg.OperatorID != "" {
		if n.state, err = openState(ctx, cfg); err != nil {
			return nil, err
		}
		if cfg.wrapState != nil {
			n.state = cfg.wrapState(n.state)
		}
		if n.subs, retireSubscribersFile, err = openSubscribers(cfg.DataDir, n.state, n.log); err != nil {
			return nil, err
		}
		n.sims = simapplet.NewEnrolments(n.state)
		n.enrolments = append(n.enrolments, n.sims)
		if n.keys, n.sealing, n.vault, err = openOperatorKeys(ctx, cfg, n.state, liveRegistry{rn}); err != nil {
			return nil, err
		}
	}
	if n.openapi, err = loadOpenAPI(); err != nil {
		return nil, err
	}
	if n.publicLn != nil {
		// Discovery's seal keys, before the admin API that rotates them.
		if n.nodeSeal, err = openNodeSealKeys(cfg.DataDir, time.Now()); err != nil {
			return nil, err
		}
	}
	n.admin = n.adminApp()
	go n.serve(n.admin, n.adminLn, "admin")
	if n.publicLn != nil {
		if n.public, err = n.publicApp(); err != nil {
			return nil, err
		}
		go n.serve(n.public, n.publicLn, "public")
	}
	go func() {
		// The bootstrap node's credentials come first: every write it
		// makes is authored by them.
		if cfg.Bootstrap {
			n.registerSelf(n.ctx)
		}
		n.refreshAdminToken(n.ctx)
		if cfg.Bootstrap {
			// After the admin token's verifier is current: it authors
			// the seed.
			n.seedCatalogue(n.ctx)
		}
		if cfg.OperatorID != "" {
			n.onboard(n.ctx)
		}
	}()
	go n.portDeadlineLoop(n.ctx, time.Now)
	go rn.PruneJoinTokens(n.ctx, joinTokenPruning, n.log)
	go rn.ManageVoters(n.ctx, n.log)
	if cfg.OperatorID != "" && cfg.KeyRotation > 0 {
		go n.rotateKeysLoop(n.ctx, cfg.KeyRotation)
	}
	if cfg.OperatorID != "" {
		go n.reloadKeysLoop(n.ctx)
	}
	if n.nodeSeal != nil {
		// Discovery's seal keys, published for gateways to find, and
		// rotated (nodesealkeys.go).
		go n.nodeSealKeyLoop(n.ctx, cfg.KeyRotation)
	}
	n.started = true
	retireSubscribersFile()
	n.log.Info("node started", "version", version.Get().String(), "admin", n.AdminURL(), "raft", rn.Addr(),
		"public", n.PublicURL(), "operator", cfg.OperatorID)
	return n, nil
}

// joinTokenPruning is how often a leader removes the expired join tokens.
const joinTokenPruning = 10 * time.Minute

func (n *Node) serve(app *fiber.App, ln net.Listener, name string) {
	if err := app.Listener(ln); err != nil {
		n.log.Error("listener stopped", "listener", name, "err", err)
	}
}

// AdminURL is the base URL of the node's admin API.
func (n *Node) AdminURL() string {
	if n.cfg.RaftTLS != nil {
		return "https://" + n.adminLn.Addr().String()
	}
	return "http://" + n.adminLn.Addr().String()
}

// PublicURL is the base URL of the node's public listener, or "".
func (n *Node) PublicURL() string {
	switch {
	case n.publicLn == nil:
		return ""
	case n.cfg.PublicURL != "":
		return strings.TrimRight(n.cfg.PublicURL, "/")
	}
	return "http://" + n.publicLn.Addr().String()
}

// OpenSubscriberID opens a subscriber_id (an ENCR_MSISDN login hint)
// sealed to this node's operator for the SP clientID, as its gateway does:
// the number's digits, or an error when it was sealed to another operator
// or SP (dev's tests check what discovery sealed with it). A node without
// an operator opens nothing.
func (n *Node) OpenSubscriberID(subscriberID, clientID string) (uint64, error) {
	if n.sealing == nil {
		return 0, errors.New("this node serves no operator")
	}
	return n.sealing.OpenLoginHint(subscriberID, clientID)
}

// Raft exposes the node's Raft server (tests, dev, status).
func (n *Node) Raft() *raft.Node { return n.raft }

// Close stops serving and shuts the Raft server down; the data directory
// keeps the node's state for a restart.
func (n *Node) Close() error {
	var errs []error
	n.stop()
	for _, app := range []*fiber.App{n.admin, n.public} {
		if app != nil {
			// A bounded wait for requests in flight; a browser's or a load
			// generator's keep-alive connection still open after it is cut
			// with the listener, which is no failure of the node's.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := app.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, err)
			}
			cancel()
		}
	}
	for _, ln := range []net.Listener{n.adminLn, n.publicLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Close())
	}
	if n.state != nil {
		errs = append(errs, n.state.Close())
	}
	for _, c := range n.closers {
		errs = append(errs, c.Close())
	}
	err := errors.Join(errs...)
	if n.started {
		if err != nil {
			n.log.Error("node stopped", "err", err)
		} else {
			n.log.Info("node stopped")
		}
	}
	return err
}

// adminApp builds the node's admin API from its parts.
func (n *Node) adminApp() *fiber.App {
	cfg := admin.Config{
		NodeID: n.cfg.NodeID, OperatorID: n.cfg.OperatorID, AdminToken: n.cfg.AdminToken,
		MaxStaleness: n.cfg.MaxStaleness, MaxBodyBytes: n.cfg.MaxBodyBytes, MaxImportBytes: n.cfg.MaxImportBytes,
		Cluster: n.raft, Observe: n.observe("admin"), Metrics: n.metrics.handler(), Log: n.log, Warnings: n.warnings,
		TrustedProxies: n.cfg.TrustedProxies, Now: n.cfg.now, OpenAPI: n.openapi.admin,
	}
	if n.nodeSeal != nil {
		cfg.NodeSealKey = n // nodesealkeys.go
	}
	if n.cfg.OperatorID != "" {
		cfg.Keys = operatorKeys{n}
		cfg.Routing = routingAPI{n}
	}
	if n.subs != nil {
		cfg.Subscribers = provisioning{&subscribers.API{Store: n.subs, Consents: gatewayConsents{n}, Log: n.log}, n.sims,
			fido.PhoneEnrolmentAPI{Authenticator: n.fido.Load}}
	}
	return admin.New(cfg)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
