// Command mcfed runs a node of a Mobile Connect federation.
//
//	mcfed dev     a demo federation on loopback, no configuration
//	mcfed serve   one production node (flags or MCFED_* environment variables)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	var certFile, keyFile, caFile string
	var smsc federation.SMSCConfig
	fs.StringVar(&cfg.NodeID, "node-id", "", "this node's id, unique in the federation")
	fs.StringVar(&cfg.OperatorID, "operator", "", "id of the operator whose Identity Gateway this node is")
	profile := fs.String("operator-file", "", "JSON profile of --operator (name, country, currency, networks, ranges, ip_ranges): registered with the node's issuer and public keys at start")
	fs.DurationVar(&cfg.KeyRotation, "key-rotation", 30*24*time.Hour, "how long a signing key signs before it is replaced (0: never); the old key stays published until its tokens expire")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, snapshots and node-local data")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:7000", "Raft listen address, as peers reach it")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:7001", "admin API listen address (keep it on a private network)")
	fs.StringVar(&cfg.PublicAddr, "public-addr", "127.0.0.1:8080", "public listen address (discovery, OIDC)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "how SPs and browsers reach --public-addr, e.g. https://mc.example.net (default http://<public-addr>)")
	fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new federation with this node as its first member")
	fs.StringVar(&cfg.Join, "join", "", "admin URL of a member to join through, e.g. http://10.0.0.1:7001")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "join token issued by the federation's admin")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "bearer token for the admin API (at least 16 characters)")
	fs.StringVar(&certFile, "tls-cert", "", "PEM certificate of this node, for mutual TLS between nodes")
	fs.StringVar(&keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&caFile, "tls-ca", "", "PEM CA bundle that signs the federation's node certificates")
	plaintext := fs.Bool("insecure-plaintext", false, "allow Raft and node-to-node admin traffic without TLS on a non-loopback --raft-addr")
	fs.StringVar(&smsc.Addr, "smsc-addr", "", "host:port of the operator's SMSC (SMPP v3.4); enables the SMS authenticator")
	fs.StringVar(&smsc.SystemID, "smsc-system-id", "", "SMPP system_id to bind with")
	fs.StringVar(&smsc.Password, "smsc-password", "", "SMPP password to bind with")
	fs.StringVar(&smsc.SourceAddr, "smsc-source", "", "sender shown on the phone (short code or alphanumeric)")
	fs.StringVar(&cfg.SMSMode, "sms-mode", "otp+url", "SMS authenticator: otp (code), url (link) or otp+url (either)")
	logFormat := fs.String("log-format", "json", "log output: text or json")
	logLevel := fs.String("log-level", "info", "least severe level logged: debug, info, warn or error")
	fs.DurationVar(&cfg.MaxStaleness, "max-staleness", 5*time.Second, "a follower that has not heard from the leader for longer is not ready")
	if err := envFlags(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Join != "" && !strings.Contains(cfg.Join, "://") {
		cfg.Join = "http://" + cfg.Join
	}
	if *profile != "" {
		if cfg.OperatorID == "" {
			return errors.New("--operator-file needs --operator")
		}
		p, err := federation.LoadOperatorProfile(*profile)
		if err != nil {
			return err
		}
		cfg.Operator = p
	}
	tlsCfg, err := mutualTLS(certFile, keyFile, caFile)
	if err != nil {
		return err
	}
	if tlsCfg == nil && !*plaintext && !loopback(cfg.RaftAddr) {
		return errors.New("Raft and admin traffic between operators' nodes must be mutual TLS: give --tls-cert, --tls-key and --tls-ca " +
			"(or --insecure-plaintext on a network you trust)")
	}
	cfg.RaftTLS = tlsCfg
	if smsc.Addr != "" {
		if err := smsc.Validate(); err != nil {
			return err
		}
		cfg.SMSC = &smsc
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

// loopback reports whether addr (host:port) listens on the loopback
// interface only, where plaintext between nodes never leaves the machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mutualTLS builds the Raft transport's TLS config: present our certificate,
// and accept only peers whose certificates the federation's CA signed.
func mutualTLS(cert, key, ca string) (*tls.Config, error) {
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	if cert == "" || key == "" || ca == "" {
		return nil, errors.New("--tls-cert, --tls-key and --tls-ca go together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no certificate", ca)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// runDev runs `mcfed dev` until ctx ends.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "where the demo keeps its state (a new temporary directory when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := dev.Start(ctx, dev.Options{DataDir: *dir, Out: os.Stdout})
	if err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Println("\nstopping the demo federation")
	return d.Close()
}
