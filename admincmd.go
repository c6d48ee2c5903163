package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mcfed/mcfed/client"
)

// mcfed admin: the admin API for an operator's engineer, without curl and
// jq. Every subcommand is one or two calls of client.Admin; the answer is
// printed as JSON (for scripts) or as a table (for people).

// adminOptions are the flags every admin subcommand takes.
type adminOptions struct {
	url, token, tokenFile string
	cacert, cert, key     string
	output                string
	timeout               time.Duration
}

// define defines the global flags on fs with o's current values as their
// defaults: the flags given before the subcommand carry over to its flag
// set, which takes them again after it.
func (o *adminOptions) define(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", o.url, "the node's admin API, e.g. https://10.0.0.1:7001  [MCFED_ADMIN_URL]")
	fs.StringVar(&o.token, "token", o.token, "admin token (a node's --admin-token or an issued credential); prefer --token-file or MCFED_ADMIN_TOKEN, which no process listing shows")
	fs.StringVar(&o.tokenFile, "token-file", o.tokenFile, "file holding the admin token (its one line)")
	fs.StringVar(&o.cacert, "cacert", o.cacert, "PEM CA bundle that signs the node's certificate (default: the system's roots)")
	fs.StringVar(&o.cert, "cert", o.cert, "PEM client certificate, for a node that asks for mutual TLS")
	fs.StringVar(&o.key, "key", o.key, "PEM private key of --cert")
	fs.StringVar(&o.output, "output", o.output, "json or table")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "how long a call may take (0: no limit; imports have none)")
}

// adminCmd is one subcommand: name is its words ("sp secret rotate"),
// args what it takes after them; setup defines its own flags and returns
// what runs it, given its positional arguments, which returns the answer
// to print (nil: nothing).
type adminCmd struct {
	name, args, summary string
	// nargs is how many arguments follow its words; -1: none or one.
	nargs int
	setup func(fs *flag.FlagSet) func(ctx context.Context, a *client.Admin, pos []string) (any, error)
	// columns are the table's, for an answer that lists items.
	columns []string
}

func adminCommands() []adminCmd {
	get := func(path func(pos []string) string) func(*flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
		return func(*flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
			return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
				return call(ctx, a, "GET", path(pos), nil)
			}
		}
	}
	return append([]adminCmd{
		{name: "status", summary: "the cluster's status: Raft, the registry, the voter rules", setup: get(fixed("/v1/cluster/status"))},
		{name: "join-token create", summary: "issue a token that admits one node (--node-id) to the federation", setup: joinTokenCreate},
		{name: "operators list", summary: "the federation's operators", setup: get(fixed("/v1/operators")),
			columns: []string{"id", "name", "country", "status", "issuer"}},
		{name: "operators get", args: "<id>", nargs: 1, summary: "one operator", setup: get(under("/v1/operators/"))},
		{name: "sp list", summary: "the service providers", setup: get(fixed("/v1/service-providers")),
			columns: []string{"client_id", "name", "status", "scopes", "operators"}},
		{name: "sp get", args: "<client-id>", nargs: 1, summary: "one service provider", setup: get(under("/v1/service-providers/"))},
		{name: "sp put", args: "[<client-id>] -f FILE", nargs: -1, summary: "create or replace a service provider from a JSON file (its client_id, when no <client-id>); a new SP's secret is printed once", setup: spPut},
		{name: "sp secret rotate", args: "<client-id>", nargs: 1, summary: "give a service provider a new secret, printed once", setup: func(*flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
			return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
				return call(ctx, a, "POST", "/v1/service-providers/"+url.PathEscape(pos[0])+"/secret", nil)
			}
		}},
		{name: "scopes list", summary: "the scope catalogue", setup: get(fixed("/v1/scopes")), columns: []string{"name", "description", "claims"}},
		{name: "subscribers get", args: "<msisdn>", nargs: 1, summary: "one of the node's operator's subscribers (E.164, e.g. +447400123456)", setup: get(under("/v1/subscribers/"))},
		{name: "subscribers import", args: "-f FILE", summary: "provision the node's operator's subscribers from a CSV file (header: msisdn and the attributes)", setup: subscribersImport},
		{name: "audit list", summary: "the audit log, newest last (--since, --operator, --limit)", setup: auditList,
			columns: []string{"index", "time", "author", "command", "outcome", "keys"}},
		{name: "voters get", summary: "the voter rules", setup: get(fixed("/v1/cluster/voters"))},
		{name: "voters set", summary: "name the voters (--voters a,b,c) and the standby non-voters (--standby)", setup: votersSet},
		{name: "promote", args: "<node-id>", nargs: 1, summary: "make a non-voting member a voter (--replaces demotes a voter in the same act)", setup: promote},
	}, moreAdminCommands()...)
}

// call sends one request and decodes the answer, numbers kept as written.
func call(ctx context.Context, a *client.Admin, method, path string, body any) (any, error) {
	var raw json.RawMessage
	if err := a.Do(ctx, method, path, body, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func joinTokenCreate(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	var req struct {
		NodeID            string `json:"node_id"`
		Operator          string `json:"operator,omitempty"`
		FederationAdmin   bool   `json:"federation_admin,omitempty"`
		TTLSeconds        int    `json:"ttl_seconds,omitempty"`
		Voter             *bool  `json:"voter,omitempty"`
		AdditionalGateway bool   `json:"additional_gateway,omitempty"`
	}
	voter := fs.Bool("voter", true, "admit a voting member (--voter=false: a non-voter)")
	ttl := fs.Duration("ttl", 0, "how long the token is good for (default 1h, at most 168h)")
	fs.StringVar(&req.NodeID, "node-id", "", "the node the token admits (required)")
	fs.StringVar(&req.Operator, "operator", "", "the joining node's admin token becomes operator admin of this operator")
	fs.BoolVar(&req.FederationAdmin, "federation-admin", false, "the joining node's admin token becomes federation admin")
	fs.BoolVar(&req.AdditionalGateway, "additional-gateway", false, "admit a further gateway node of an operator that has one (needs --operator)")
	return func(ctx context.Context, a *client.Admin, _ []string) (any, error) {
		if req.NodeID == "" {
			return nil, &usageError{[]error{errors.New("join-token create needs --node-id")}}
		}
		if !*voter {
			req.Voter = voter
		}
		req.TTLSeconds = int(ttl.Seconds())
		return call(ctx, a, "POST", "/v1/cluster/join-tokens", req)
	}
}

func spPut(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	file := fs.String("f", "", "JSON file of the SP (the admin API's SPRequest, api/admin.yaml)")
	return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
		if *file == "" {
			return nil, &usageError{[]error{errors.New("sp put takes -f FILE and at most a client id")}}
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return nil, err
		}
		var sp struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(b, &sp); err != nil {
			return nil, fmt.Errorf("%s: not a JSON object: %w", *file, err)
		}
		id := sp.ClientID
		if len(pos) == 1 {
			id = pos[0]
		}
		if id == "" {
			return nil, &usageError{[]error{fmt.Errorf("%s names no client_id: give it as sp put <client-id> -f FILE", *file)}}
		}
		return call(ctx, a, "PUT", "/v1/service-providers/"+url.PathEscape(id), json.RawMessage(b))
	}
}

func subscribersImport(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	file := fs.String("f", "", "CSV file of subscribers (\"-\": standard input)")
	return func(ctx context.Context, a *client.Admin, _ []string) (any, error) {
		if *file == "" {
			return nil, &usageError{[]error{errors.New("subscribers import needs -f FILE")}}
		}
		var f *os.File
		var err error
		if *file == "-" {
			f, err = spool(os.Stdin)
		} else {
			f, err = os.Open(*file)
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		// Streamed from the file (an import may be gigabytes), with its
		// length: a node that refuses a chunked import leaves its answer
		// unsent.
		return call(ctx, a, "POST", "/v1/subscribers/import", f)
	}
}

func auditList(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	since := fs.String("since", "", "entries from then on: an RFC 3339 time, or a duration back from now (e.g. 1h, 7d)")
	operator := fs.String("operator", "", "entries that concern this operator")
	limit := fs.Int("limit", 0, "at most this many entries (default 100, at most 1000)")
	return func(ctx context.Context, a *client.Admin, _ []string) (any, error) {
		q := url.Values{}
		if *since != "" {
			t, err := sinceTime(*since, time.Now())
			if err != nil {
				return nil, &usageError{[]error{err}}
			}
			q.Set("since", t.UTC().Format(time.RFC3339))
		}
		if *operator != "" {
			q.Set("operator", *operator)
		}
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		path := "/v1/audit"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		return call(ctx, a, "GET", path, nil)
	}
}

// spool copies r to a temporary file, removed once open, and returns it
// rewound: standard input sent with a length.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "mcfed-import-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sinceTime reads --since: an RFC 3339 time, or a duration (days allowed)
// back from now.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if n, ok := strings.CutSuffix(v, "d"); ok && err != nil {
		var days int
		if days, err = strconv.Atoi(n); err == nil {
			d = time.Duration(days) * 24 * time.Hour
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2026-01-31T12:00:00Z) or a duration back from now (90m, 24h, 7d)", v)
	}
	return now.Add(-d), nil
}

func votersSet(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	voters := fs.String("voters", "", "comma-separated ids of the nodes that vote (1 to 9; required)")
	standby := fs.String("standby", "", "comma-separated ids of the non-voters the leader may promote in place of a lost voter")
	after := fs.Duration("promote-after", 0, "how long a voter may be out of the leader's contact before a standby replaces it (default 30s)")
	return func(ctx context.Context, a *client.Admin, _ []string) (any, error) {
		if *voters == "" {
			return nil, &usageError{[]error{errors.New("voters set needs --voters")}}
		}
		body := map[string]any{"voters": splitList(*voters), "standby": splitList(*standby)}
		if *after > 0 {
			body["promote_after_seconds"] = int(after.Seconds())
		}
		return call(ctx, a, "PUT", "/v1/cluster/voters", body)
	}
}

func splitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func promote(fs *flag.FlagSet) func(context.Context, *client.Admin, []string) (any, error) {
	replaces := fs.String("replaces", "", "a voter to demote to a standby non-voter in the same act")
	return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
		var body any
		if *replaces != "" {
			body = map[string]string{"replaces": *replaces}
		}
		return call(ctx, a, "POST", "/v1/cluster/members/"+url.PathEscape(pos[0])+"/promote", body)
	}
}

// runAdmin runs "mcfed admin [flags] <subcommand> [args] [flags]".
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = context.WithValue(ctx, stderrKey{}, stderr)
	opts := adminOptions{url: os.Getenv("MCFED_ADMIN_URL"), output: "table", timeout: 30 * time.Second}
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	opts.define(fs)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// Up to the subcommand: its own flags follow it.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{[]error{err}}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return &usageError{[]error{errors.New("which subcommand? " + adminNames())}}
	}
	cmd, words, ok := lookupAdmin(rest)
	if !ok {
		return &usageError{[]error{fmt.Errorf("unknown subcommand %q; the subcommands are %s", strings.Join(rest, " "), adminNames())}}
	}
	sub := flag.NewFlagSet("admin "+cmd.name, flag.ContinueOnError)
	opts.define(sub)
	runSub := cmd.setup(sub)
	pos, err := parseInterleaved(sub, rest[words:])
	if err != nil {
		return err
	}
	if cmd.nargs >= 0 && len(pos) != cmd.nargs || cmd.nargs < 0 && len(pos) > 1 {
		return &usageError{[]error{fmt.Errorf("usage: mcfed admin %s %s", cmd.name, cmd.args)}}
	}
	a, err := opts.client()
	if err != nil {
		return err
	}
	if cmd.name == "subscribers import" || strings.HasPrefix(cmd.name, "import ") {
		// An import streams for as long as the file takes.
		a.HTTP.Timeout = 0
	}
	answer, err := runSub(ctx, a, pos)
	if err != nil {
		return err
	}
	if answer == nil {
		return nil
	}
	if opts.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(answer)
	}
	printTable(stdout, answer, cmd.columns)
	return nil
}

// parseInterleaved parses flags wherever they are among the arguments
// (Go's flag package stops at the first argument that is not one) and
// returns the arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // run prints the errors, once
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{[]error{err}}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// client checks the global flags and builds the admin API's client.
func (o *adminOptions) client() (*client.Admin, error) {
	var errs []error
	if o.output != "json" && o.output != "table" {
		errs = append(errs, fmt.Errorf("--output %q: want json or table", o.output))
	}
	if o.url == "" {
		errs = append(errs, errors.New("no admin API: set --url or MCFED_ADMIN_URL, e.g. https://10.0.0.1:7001"))
	} else if u, err := url.Parse(o.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--url %q: want http://host:port or https://host:port", o.url))
	}
	token := o.token
	switch {
	case token != "" && o.tokenFile != "":
		errs = append(errs, errors.New("--token and --token-file: give one"))
	case o.tokenFile != "":
		s, _, err := readSecret(o.tokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--token-file %s: %w", o.tokenFile, err))
		}
		token = s
	case token == "":
		token = os.Getenv("MCFED_ADMIN_TOKEN")
	}
	if token == "" && len(errs) == 0 {
		errs = append(errs, errors.New("no admin token: set --token-file, MCFED_ADMIN_TOKEN or --token"))
	}
	if (o.cert == "") != (o.key == "") {
		errs = append(errs, errors.New("--cert and --key go together"))
	}
	if len(errs) > 0 {
		return nil, &usageError{errs}
	}
	httpc, err := client.HTTPClient(client.TLSFiles{CA: o.cacert, Cert: o.cert, Key: o.key}, o.timeout)
	if err != nil {
		return nil, &usageError{[]error{err}}
	}
	return &client.Admin{Base: o.url, Token: token, HTTP: httpc}, nil
}

// lookupAdmin finds the subcommand whose words begin args, the longest
// first ("sp secret rotate" before a shorter one), and how many words it
// took.
func lookupAdmin(args []string) (adminCmd, int, bool) {
	var best adminCmd
	bestWords := 0
	for _, c := range adminCommands() {
		words := strings.Fields(c.name)
		if len(words) > bestWords && len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.name {
			best, bestWords = c, len(words)
		}
	}
	return best, bestWords, bestWords > 0
}

func adminNames() string {
	var names []string
	for _, c := range adminCommands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// adminFlags is admin's flag set for help.
func adminFlags() (*flag.FlagSet, []flagGroup) {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	o := adminOptions{output: "table", timeout: 30 * time.Second}
	o.define(fs)
	return fs, []flagGroup{
		{"Node", []string{"url", "token", "token-file"}},
		{"TLS", []string{"cacert", "cert", "key"}},
		{"Output", []string{"output", "timeout"}},
	}
}

// adminHelp lists the subcommands with their own flags.
func adminHelp(w io.Writer) {
	fmt.Fprintln(w, "\nSubcommands (flags go before or after them):")
	for _, c := range adminCommands() {
		fmt.Fprintf(w, "  %s %s\n      %s\n", c.name, c.args, c.summary)
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.setup(fs)
		fs.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			if isBool(f) {
				kind = ""
			}
			fmt.Fprintf(w, "      --%s %s  %s\n", f.Name, kind, usage)
		})
	}
	fmt.Fprintln(w, "\nExit codes: 0 done, 1 the admin API refused (its problem's status and detail are printed) or was not reached, 2 a bad command line.")
}
