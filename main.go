// Command mcfed runs a node of a Mobile Connect federation.
//
//	mcfed dev       a demo federation on loopback, no configuration
//	mcfed serve     one production node (flags, MCFED_* environment variables or a TOML file)
//	mcfed admin     the admin API of a running node (status, join tokens, SPs, scopes, subscribers, audit, voters)
//	mcfed smsc      a simulated SMSC and handset, a stand-in for an operator's SMSC
//	mcfed version   the build's version
//	mcfed help      the commands, or one command's flags
//
// main only parses: federation.Config holds the defaults and checks every
// setting (federation/config.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/dev"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/version"
)

// Exit codes: what a script or an init system can tell apart.
const (
	exitFailure = 1 // the node failed while running, or could not start
	exitUsage   = 2 // a bad command, flag, variable or setting: fix the command line
	exitJoin    = 3 // --join failed (unreachable, TLS mismatch, refused token, no leader in time)
)

// command is one of mcfed's subcommands. flags, when set, builds its flag
// set, for help and for run; env says its flags are read from MCFED_*
// variables too.
type command struct {
	name, summary string
	env           bool
	flags         func() (*flag.FlagSet, []flagGroup)
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	// more, when set, ends the command's help (admin's subcommands).
	more func(w io.Writer)
}

func commands() []command {
	return []command{
		{name: "dev", summary: "start a demo federation on loopback (no configuration)", flags: devFlags, run: runDev},
		{name: "serve", summary: "run one node of a federation", env: true, flags: func() (*flag.FlagSet, []flagGroup) {
			fs, groups, _ := serveFlags()
			return fs, groups
		}, run: serve},
		{name: "admin", summary: "call a node's admin API: mcfed admin [flags] <subcommand> (\"mcfed help admin\" lists them)",
			flags: adminFlags, run: runAdmin, more: adminHelp},
		{name: "smsc", summary: "run a simulated SMSC and handset: a stand-in for an operator's SMSC, to try a federation", flags: smscHelpFlags, run: runSMSC},
		{name: "version", summary: "print the build's version", run: printVersion},
		{name: "help", summary: `list the commands, or "mcfed help <command>" for one command's flags`},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command args name and returns the process's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	if name == "help" {
		return help(args[1:], stdout, stderr)
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "mcfed: unknown command %q; the commands are %s (\"mcfed help\" says more)\n", name, commandNames())
		return exitUsage
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	if err == nil {
		return 0
	}
	prefix := "mcfed " + cmd.name + ": "
	var (
		usageErr *usageError
		cfgErr   *federation.ConfigError
		joinErr  *federation.JoinError
		apiErr   *client.APIError
	)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, cmd)
		return 0
	case errors.As(err, &usageErr):
		for _, e := range usageErr.errs {
			fmt.Fprintln(stderr, prefix+e.Error())
		}
		fmt.Fprintf(stderr, "run \"mcfed help %s\" for its flags\n", cmd.name)
		return exitUsage
	case errors.As(err, &cfgErr):
		for _, e := range cfgErr.Problems {
			fmt.Fprintln(stderr, prefix+e.Error())
		}
		return exitUsage
	case errors.As(err, &joinErr):
		fmt.Fprintln(stderr, prefix+joinErr.Error())
		return exitJoin
	case errors.As(err, &apiErr):
		// One line: the status and the problem's detail; an import's bad
		// rows follow, one a line.
		fmt.Fprintln(stderr, prefix+apiErr.Error())
		for _, r := range apiErr.Problem.Errors {
			fmt.Fprintf(stderr, "  line %d: %s\n", r.Line, r.Detail)
		}
		return exitFailure
	}
	fmt.Fprintln(stderr, prefix+err.Error())
	return exitFailure
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// usageError is a command line that does not parse: one error per bad flag
// or variable, each with the value given and what is accepted.
type usageError struct{ errs []error }

func (e *usageError) Error() string { return errors.Join(e.errs...).Error() }

// envName is the environment variable of a flag: MCFED_ and its name in
// capitals, dashes as underscores.
func envName(flagName string) string {
	return "MCFED_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mcfed <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

// help answers "mcfed help [command]".
func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintln(stderr, "mcfed help: one command at a time, e.g. mcfed help serve")
		return exitUsage
	}
	for _, c := range commands() {
		if c.name == args[0] {
			printHelp(stdout, c)
			return 0
		}
	}
	fmt.Fprintf(stderr, "mcfed help: unknown command %q; the commands are %s\n", args[0], commandNames())
	return exitUsage
}

// flagGroup is a heading of a command's help and the flags under it.
type flagGroup struct {
	title string
	flags []string
}

// printHelp writes a command's help: its flags by group, each with its
// MCFED_* variable and default.
func printHelp(w io.Writer, c command) {
	if c.flags == nil {
		fmt.Fprintf(w, "usage: mcfed %s\n\n%s\n", c.name, c.summary)
		return
	}
	fs, groups := c.flags()
	fmt.Fprintf(w, "usage: mcfed %s [flags]\n\nmcfed %s: %s.\n", c.name, c.name, c.summary)
	if c.env {
		fmt.Fprintln(w, "Every flag can also be set by the environment variable shown beside it, or by the key of its name in the\n"+
			"TOML file of --config (the secrets --"+strings.Join(secretFlags, ", --")+" by their -file form only).\n"+
			"The command line wins over the environment, which wins over the file, which wins over the default.")
	}
	seen := map[string]bool{}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil {
				seen[name] = true
				printFlag(w, f, c.env)
			}
		}
	}
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			if first {
				fmt.Fprintf(w, "\nOther:\n")
				first = false
			}
			printFlag(w, f, c.env)
		}
	})
	if c.more != nil {
		c.more(w)
	}
}

func printFlag(w io.Writer, f *flag.Flag, env bool) {
	kind, usage := flag.UnquoteUsage(f)
	switch {
	case isBool(f):
		kind = ""
	case kind == "value":
		kind = "duration" // federation.DurationFlag, the one Value of our own that takes an argument
	}
	line := "  --" + f.Name
	if kind != "" {
		line += " " + kind
	}
	if env {
		line += "  [" + envName(f.Name) + "]"
	}
	if f.DefValue != "" && f.DefValue != "false" {
		line += "  (default " + f.DefValue + ")"
	}
	fmt.Fprintf(w, "%s\n      %s\n", line, usage)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func printVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return &usageError{[]error{fmt.Errorf("takes no arguments, got %q", args[0])}}
	}
	fmt.Fprintf(stdout, "mcfed %s %s/%s %s\n", version.Get(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return nil
}

// serveOptions are serve's settings that are not the node's Config.
type serveOptions struct {
	config              string
	logFormat, logLevel string
}

// serveFlags defines serve's flags over a Config; the defaults shown are
// federation's.
func serveFlags() (*flag.FlagSet, []flagGroup, func() (federation.Config, serveOptions)) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg federation.Config
	var smsc federation.SMSCConfig
	var opts serveOptions
	cfg.SMSC = &smsc
	fs.StringVar(&opts.config, configFlag, "", "TOML file of settings: one key per flag, named as the flag, e.g. node-id = \"a\" (see README \"Configuration file\")")
	cfg.KeyRotation, cfg.MaxStaleness, cfg.JoinTimeout = federation.DefaultKeyRotation, federation.DefaultMaxStaleness, federation.DefaultJoinTimeout
	fs.StringVar(&cfg.NodeID, "node-id", "", "this node's id, unique in the federation")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, snapshots and node-local data")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "bearer token for this node's admin API (at least 16 characters; it or --admin-token-file is required)")
	fs.Var(federation.BoolFlag(&cfg.Bootstrap), "bootstrap", "start a new federation with this node as its first member")
	fs.StringVar(&cfg.Join, "join", "", "admin URL of a member to join through, e.g. https://10.0.0.1:7001 (http:// without --tls-*)")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "join token issued by the federation's admin (POST /v1/cluster/join-tokens)")
	fs.Var(federation.DurationFlag(&cfg.JoinTimeout), "join-timeout", "how long --join waits for a federation that cannot admit the node yet (no leader); other failures end it at once")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", federation.DefaultRaftAddr, "Raft listen address, as peers reach it")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", federation.DefaultAdminAddr, "admin API listen address (keep it on a private network)")
	fs.StringVar(&cfg.PublicAddr, "public-addr", federation.DefaultPublicAddr, "public listen address (discovery, OIDC)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "how SPs and browsers reach --public-addr, e.g. https://mc.example.net: the operator's issuer (default http://<public-addr>; required when --public-addr names no host, as :8080 does)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate of this node, naming its --node-id, for mutual TLS between nodes")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.TLSCAFile, "tls-ca", "", "PEM CA bundle that signs the federation's node certificates")
	fs.Var(federation.BoolFlag(&cfg.InsecurePlaintext), "insecure-plaintext", "allow Raft and node-to-node admin traffic without TLS on a non-loopback --raft-addr")
	fs.StringVar(&cfg.OperatorID, "operator", "", "id of the operator whose Identity Gateway this node is")
	fs.StringVar(&cfg.OperatorFile, "operator-file", "", "JSON profile of --operator (name, country, currency, networks, ranges, ip_ranges): registered with the node's issuer and public keys at start")
	fs.StringVar(&cfg.Store, "store", "", "the operator's state store (sessions, codes, tokens, keys): a postgres:// URL its gateway nodes share, or nothing for the embedded one in --data-dir")
	fs.StringVar(&cfg.KEKFile, "kek-file", "", "file of 32 random bytes that encrypts the operator's keys in its state store; every gateway node of the operator needs the same one (default: one the node makes in --data-dir)")
	fs.Var(federation.DurationFlag(&cfg.KeyRotation), "key-rotation", "how long a signing key signs, and discovery's seal key seals, before it is replaced (negative: never); the old key stays published until its tokens, or subscriber_ids, expire")
	fs.StringVar(&smsc.Addr, "smsc-addr", "", "host:port of the operator's SMSC (SMPP v3.4); enables the SMS authenticator, without which the gateway logs nobody in")
	fs.StringVar(&smsc.SystemID, "smsc-system-id", "", "SMPP system_id to bind with")
	fs.StringVar(&smsc.Password, "smsc-password", "", "SMPP password to bind with")
	fs.StringVar(&smsc.SourceAddr, "smsc-source", "", "sender shown on the phone (short code or alphanumeric)")
	fs.StringVar(&cfg.SMSMode, "sms-mode", federation.DefaultSMSMode, "SMS authenticator: otp (code), url (link) or otp+url (either)")
	fs.StringVar(&cfg.AuthenticatorsFile, "authenticators-file", "", "JSON list of the gateway's authenticators in order of preference, each {\"type\": \"sms\"|\"sim-applet\"|\"fido\"|\"seamless\"|\"redirect\", \"settings\": {...}} (default: SMS alone when --smsc-addr is given)")
	cfg.SendBudgets = idgw.DefaultSendBudgets
	fs.StringVar(&cfg.NetworkLookupFile, "network-lookup-file", "", "JSON settings of the operator's address lookup service, which maps CAMARA login_hint=ipport:<address>:<port> to a line: {\"url\": \"https://...\", \"bearer_token_file\", \"ca_file\", \"cert_file\", \"key_file\", \"timeout\", \"max_answer\"} (default: none, ipport: hints are refused)")
	fs.Var(federation.SendBudgetsFlag(&cfg.SendBudgets), "send-budgets", "abuse budgets for logins that reach a subscriber's handset (SMS, SIM prompt, push), counted per window in the operator's state store: the `budgets` sp=N,source=N,operator=N,window=D (any subset; 0 turns one off)")
	fs.Var(federation.DurationFlag(&cfg.MaxStaleness), "max-staleness", "a follower that has not heard from the leader for longer is not ready")
	fs.StringVar(&opts.logFormat, "log-format", "json", "log output: text or json")
	fs.StringVar(&opts.logLevel, "log-level", "info", "least severe level logged: debug, info, warn or error")
	fs.Func("trusted-proxies", "comma-separated networks (CIDRs) of the load balancers in front of the node: from them, the client's address for the failure budgets is X-Forwarded-For's rightmost hop outside these networks (default: none trusted, the connection's address)",
		func(v string) error {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					cfg.TrustedProxies = append(cfg.TrustedProxies, p)
				}
			}
			return nil
		})
	for _, name := range secretFlags {
		fs.String(name+"-file", "", "file holding --"+name+" (its one line), so that the secret is in no process listing")
	}
	groups := []flagGroup{
		{"Configuration", []string{configFlag}},
		{"Node", []string{"node-id", "data-dir", "admin-token", "admin-token-file"}},
		{"Joining", []string{"bootstrap", "join", "join-token", "join-token-file", "join-timeout"}},
		{"Listeners", []string{"raft-addr", "admin-addr", "public-addr", "public-url"}},
		{"TLS between nodes", []string{"tls-cert", "tls-key", "tls-ca", "insecure-plaintext"}},
		{"Operator's gateway", []string{"operator", "operator-file", "store", "store-file", "kek-file", "key-rotation", "smsc-addr", "smsc-system-id",
			"smsc-password", "smsc-password-file", "smsc-source", "sms-mode", "authenticators-file", "network-lookup-file", "send-budgets"}},
		{"Operations", []string{"max-staleness", "trusted-proxies", "log-format", "log-level"}},
	}
	return fs, groups, func() (federation.Config, serveOptions) { return cfg, opts }
}

func serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs, _, parsed := serveFlags()
	from, err := parse(fs, args, true)
	if err != nil {
		return err
	}
	warnings, secretsErr := readSecretFiles(fs, from)
	cfg, opts := parsed()
	logger, err := federation.NewLogger(stderr, opts.logFormat, opts.logLevel)
	if err != nil {
		return &usageError{[]error{err}}
	}
	for _, w := range warnings {
		logger.Warn("secret file is readable by others than its owner", "problem", w)
	}
	if secretsErr != nil {
		return secretsErr
	}
	cfg.Logger = logger
	n, err := federation.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return n.Close()
}

func devFlags() (*flag.FlagSet, []flagGroup) {
	fs, _, _, _ := devFlagSet()
	return fs, []flagGroup{{"Demo", []string{"data-dir", "reset", "log-level"}}}
}

func devFlagSet() (fs *flag.FlagSet, dir *string, reset *bool, logLevel *string) {
	fs = flag.NewFlagSet("dev", flag.ContinueOnError)
	dir = fs.String("data-dir", "", "where the demo keeps its state: started again on it, the demo resumes (a new temporary directory, removed at exit, when empty)")
	reset = new(bool)
	fs.Var(federation.BoolFlag(reset), "reset", "empty --data-dir first, if it holds a previous demo, and start over")
	logLevel = fs.String("log-level", "info", "least severe level logged on stderr (a login's requests are debug, unless they fail): debug, info, warn or error")
	return fs, dir, reset, logLevel
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dir, reset, logLevel := devFlagSet()
	if _, err := parse(fs, args, false); err != nil {
		return err
	}
	if *reset && *dir == "" {
		return &usageError{[]error{errors.New("--reset needs --data-dir")}}
	}
	logger, err := federation.NewLogger(stderr, "text", *logLevel)
	if err != nil {
		return &usageError{[]error{err}}
	}
	d, err := dev.Start(ctx, dev.Options{DataDir: *dir, Reset: *reset, Out: stdout, Logger: logger})
	if err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping the demo federation")
	return d.Close()
}
