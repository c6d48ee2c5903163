// Command mcfed runs a node of a Mobile Connect federation.
//
//	mcfed dev     a demo federation on loopback, no configuration
//	mcfed serve   one production node (flags or MCFED_* environment variables)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mcfed/mcfed/dev"
	"github.com/mcfed/mcfed/federation"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "dev":
		err = runDev(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "mcfed:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: mcfed <command> [flags]

commands:
  dev     start a demo federation on loopback (no configuration)
  serve   run one node; "mcfed serve -h" lists its flags`)
}

// envFlags gives every flag of fs the environment variable MCFED_<NAME> as
// its default, so containers can configure a node without a command line.
func envFlags(fs *flag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "MCFED_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg federation.Config
	var smsc federation.SMSCConfig
	cfg.SMSC = &smsc
	fs.StringVar(&cfg.NodeID, "node-id", "", "this node's id, unique in the federation")
	fs.StringVar(&cfg.OperatorID, "operator", "", "id of the operator whose Identity Gateway this node is")
	fs.StringVar(&cfg.OperatorFile, "operator-file", "", "JSON profile of --operator (name, country, currency, networks, ranges, ip_ranges): registered with the node's issuer and public keys at start")
	fs.DurationVar(&cfg.KeyRotation, "key-rotation", federation.DefaultKeyRotation, "how long a signing key signs before it is replaced (a negative duration: never); the old key stays published until its tokens expire")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, snapshots and node-local data")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", federation.DefaultRaftAddr, "Raft listen address, as peers reach it")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", federation.DefaultAdminAddr, "admin API listen address (keep it on a private network)")
	fs.StringVar(&cfg.PublicAddr, "public-addr", federation.DefaultPublicAddr, "public listen address (discovery, OIDC)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "how SPs and browsers reach --public-addr, e.g. https://mc.example.net (default http://<public-addr>)")
	fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new federation with this node as its first member")
	fs.StringVar(&cfg.Join, "join", "", "admin URL of a member to join through, e.g. http://10.0.0.1:7001")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "join token issued by the federation's admin")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "bearer token for the admin API (at least 16 characters)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate of this node, for mutual TLS between nodes")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.TLSCAFile, "tls-ca", "", "PEM CA bundle that signs the federation's node certificates")
	fs.BoolVar(&cfg.InsecurePlaintext, "insecure-plaintext", false, "allow Raft and node-to-node admin traffic without TLS on a non-loopback --raft-addr")
	fs.StringVar(&smsc.Addr, "smsc-addr", "", "host:port of the operator's SMSC (SMPP v3.4); enables the SMS authenticator")
	fs.StringVar(&smsc.SystemID, "smsc-system-id", "", "SMPP system_id to bind with")
	fs.StringVar(&smsc.Password, "smsc-password", "", "SMPP password to bind with")
	fs.StringVar(&smsc.SourceAddr, "smsc-source", "", "sender shown on the phone (short code or alphanumeric)")
	fs.StringVar(&cfg.SMSMode, "sms-mode", federation.DefaultSMSMode, "SMS authenticator: otp (code), url (link) or otp+url (either)")
	logFormat := fs.String("log-format", "json", "log output: text or json")
	logLevel := fs.String("log-level", "info", "least severe level logged: debug, info, warn or error")
	trustedProxies := fs.String("trusted-proxies", "", "comma-separated networks (CIDRs) of the load balancers in front of the node: from them, the client's address for the failure budgets is X-Forwarded-For's rightmost hop outside these networks (default: none trusted, the connection's address)")
	fs.DurationVar(&cfg.MaxStaleness, "max-staleness", federation.DefaultMaxStaleness, "a follower that has not heard from the leader for longer is not ready")
	if err := envFlags(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, p := range strings.Split(*trustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.TrustedProxies = append(cfg.TrustedProxies, p)
		}
	}
	logger, err := federation.NewLogger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg.Logger, cfg.Raft.LogJSON = logger, *logFormat == "json"
	n, err := federation.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return n.Close()
}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "where the demo keeps its state: started again on it, the demo resumes (a new temporary directory, removed at exit, when empty)")
	reset := fs.Bool("reset", false, "empty --data-dir first, if it holds a previous demo, and start over")
	logLevel := fs.String("log-level", "info", "least severe level logged on stderr (the requests are info): debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reset && *dir == "" {
		return errors.New("--reset needs --data-dir")
	}
	logger, err := federation.NewLogger(os.Stderr, "text", *logLevel)
	if err != nil {
		return err
	}
	d, err := dev.Start(ctx, dev.Options{DataDir: *dir, Reset: *reset, Out: os.Stdout, Logger: logger})
	if err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Println("\nstopping the demo federation")
	return d.Close()
}
