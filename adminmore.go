package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"

	"github.com/mcfed/mcfed/client"
)

// The admin subcommands over the registry's numbers, the catalogue,
// credentials and approvals: one request each, named as the admin API's
// paths are (api/admin.yaml).

// runner is what an adminCmd's setup returns.
type runner = func(ctx context.Context, a *client.Admin, pos []string) (any, error)

// request is a setup that sends method to the path pos makes, with no body.
func request(method string, path func(pos []string) string) func(*flag.FlagSet) runner {
	return func(*flag.FlagSet) runner {
		return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
			return call(ctx, a, method, path(pos), nil)
		}
	}
}

// withFile is a setup that sends method to the path pos makes, with the
// JSON object of -f FILE as its body.
func withFile(method, what string, path func(pos []string) string) func(*flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		file := fs.String("f", "", "JSON file of the "+what+" (api/admin.yaml describes it; required)")
		return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
			body, err := jsonFile(*file)
			if err != nil {
				return nil, err
			}
			return call(ctx, a, method, path(pos), body)
		}
	}
}

// jsonFile reads -f FILE: one JSON object, sent as it is written.
func jsonFile(file string) (json.RawMessage, error) {
	if file == "" {
		return nil, &usageError{[]error{errors.New("this subcommand needs -f FILE, a JSON object")}}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	return json.RawMessage(b), nil
}

// withOperator is a setup that PUTs {"operator": --operator} to the path
// pos makes: a range's or a ported number's operator.
func withOperator(path func(pos []string) string) func(*flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		op := fs.String("operator", "", "the operator that serves it (required)")
		return func(ctx context.Context, a *client.Admin, pos []string) (any, error) {
			if *op == "" {
				return nil, &usageError{[]error{errors.New("this subcommand needs --operator")}}
			}
			return call(ctx, a, "PUT", path(pos), map[string]string{"operator": *op})
		}
	}
}

// listing is a setup that GETs path with the query flags named in params.
func listing(path string, params ...string) func(*flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		vals := map[string]*string{}
		for _, p := range params {
			vals[p] = fs.String(p, "", "only those whose "+p+" is this")
		}
		return func(ctx context.Context, a *client.Admin, _ []string) (any, error) {
			q := url.Values{}
			for p, v := range vals {
				if *v != "" {
					q.Set(p, *v)
				}
			}
			if len(q) > 0 {
				return call(ctx, a, "GET", path+"?"+q.Encode(), nil)
			}
			return call(ctx, a, "GET", path, nil)
		}
	}
}

func under(p string) func([]string) string {
	return func(pos []string) string { return p + url.PathEscape(pos[0]) }
}

func underThen(p, suffix string) func([]string) string {
	return func(pos []string) string { return p + url.PathEscape(pos[0]) + suffix }
}

func fixed(p string) func([]string) string { return func([]string) string { return p } }

func moreAdminCommands() []adminCmd {
	cmds := []adminCmd{
		{name: "ranges list", summary: "the number ranges, by prefix (--operator: one operator's)", setup: listing("/v1/ranges", "operator"),
			columns: []string{"prefix", "operator"}},
		{name: "ranges get", args: "<prefix>", nargs: 1, summary: "one range (E.164 digits with '+', e.g. +447400)", setup: request("GET", under("/v1/ranges/"))},
		{name: "ranges put", args: "<prefix> --operator ID", nargs: 1, summary: "assign a range to an operator", setup: withOperator(under("/v1/ranges/"))},
		{name: "ranges delete", args: "<prefix>", nargs: 1, summary: "delete a range", setup: request("DELETE", under("/v1/ranges/"))},
		{name: "ported get", args: "<msisdn>", nargs: 1, summary: "a ported number and its operator", setup: request("GET", under("/v1/ported/"))},
		{name: "ported put", args: "<msisdn> --operator ID", nargs: 1, summary: "port a number to an operator", setup: withOperator(under("/v1/ported/"))},
		{name: "ported delete", args: "<msisdn>", nargs: 1, summary: "un-port a number: its range's operator serves it again", setup: request("DELETE", under("/v1/ported/"))},
		{name: "scopes get", args: "<name>", nargs: 1, summary: "one scope of the catalogue", setup: request("GET", under("/v1/scopes/"))},
		{name: "scopes put", args: "<name> -f FILE", nargs: 1, summary: "create or replace a scope", setup: withFile("PUT", "scope", under("/v1/scopes/"))},
		{name: "scopes delete", args: "<name>", nargs: 1, summary: "delete a scope no SP or product uses", setup: request("DELETE", under("/v1/scopes/"))},
		{name: "products list", summary: "the product catalogue", setup: request("GET", fixed("/v1/products")),
			columns: []string{"id", "name", "scopes", "min_loa"}},
		{name: "products get", args: "<id>", nargs: 1, summary: "one product", setup: request("GET", under("/v1/products/"))},
		{name: "products put", args: "<id> -f FILE", nargs: 1, summary: "create or replace a product", setup: withFile("PUT", "product", under("/v1/products/"))},
		{name: "products delete", args: "<id>", nargs: 1, summary: "delete a product", setup: request("DELETE", under("/v1/products/"))},
		{name: "developers list", summary: "the developers: the organisations that own SPs", setup: request("GET", fixed("/v1/developers")),
			columns: []string{"id", "name", "status", "contacts"}},
		{name: "developers get", args: "<id>", nargs: 1, summary: "one developer", setup: request("GET", under("/v1/developers/"))},
		{name: "developers put", args: "<id> -f FILE", nargs: 1, summary: "create or replace a developer ({\"name\", \"contacts\": [{\"name\", \"email\", \"phone\", \"role\"}]})", setup: withFile("PUT", "developer", under("/v1/developers/"))},
		{name: "developers delete", args: "<id>", nargs: 1, summary: "delete a developer that owns no SP", setup: request("DELETE", under("/v1/developers/"))},
		{name: "developers suspend", args: "<id>", nargs: 1, summary: "suspend a developer: every SP it owns is refused at discovery and at every gateway", setup: request("POST", underThen("/v1/developers/", "/suspend"))},
		{name: "developers activate", args: "<id>", nargs: 1, summary: "activate a developer: its SPs have their own standing again", setup: request("POST", underThen("/v1/developers/", "/activate"))},
		{name: "apis list", summary: "the APIs products open at the gateways, with each SP's request limit", setup: request("GET", fixed("/v1/apis")),
			columns: []string{"id", "name", "products", "rate_per_sp", "burst_per_sp"}},
		{name: "apis get", args: "<id>", nargs: 1, summary: "one API", setup: request("GET", under("/v1/apis/"))},
		{name: "apis put", args: "<id> -f FILE", nargs: 1, summary: "create or replace an API ({\"name\", \"products\", \"rate_per_sp\", \"burst_per_sp\"}; the id is the gateway endpoint's, e.g. userinfo)", setup: withFile("PUT", "API", under("/v1/apis/"))},
		{name: "apis delete", args: "<id>", nargs: 1, summary: "delete an API: its endpoint keeps the gateway's default limit", setup: request("DELETE", under("/v1/apis/"))},
		{name: "credentials list", summary: "the admin credentials (never their secrets)", setup: request("GET", fixed("/v1/credentials")),
			columns: []string{"id", "kind", "role", "operator", "name", "revoked"}},
		{name: "credentials create", args: "-f FILE", summary: "issue an admin credential ({\"role\", \"operator\", \"name\"}); its token is printed once", setup: withFile("POST", "credential", fixed("/v1/credentials"))},
		{name: "credentials revoke", args: "<id>", nargs: 1, summary: "revoke a credential", setup: request("DELETE", under("/v1/credentials/"))},
		{name: "approval-rules get", summary: "how many federation admins must approve an act", setup: request("GET", fixed("/v1/approval-rules"))},
		{name: "approval-rules set", args: "-f FILE", summary: "set the approvals required ({\"approvals_required\", \"expiry_hours\"})", setup: withFile("PUT", "approval rules", fixed("/v1/approval-rules"))},
		{name: "approvals list", summary: "the proposals waiting for approval, in log order (--status)", setup: listing("/v1/approvals", "status"),
			columns: []string{"id", "status", "what", "proposer", "approvals_counted", "approvals_required", "expires_at"}},
		{name: "approvals get", args: "<id>", nargs: 1, summary: "one proposal", setup: request("GET", under("/v1/approvals/"))},
		{name: "approvals approve", args: "<id>", nargs: 1, summary: "approve a proposal (applied once it has enough approvals)", setup: request("POST", underThen("/v1/approvals/", "/approve"))},
		{name: "approvals reject", args: "<id>", nargs: 1, summary: "reject a proposal (its proposer withdraws it)", setup: request("POST", underThen("/v1/approvals/", "/reject"))},
	}
	for _, k := range importKinds {
		cmds = append(cmds, adminCmd{name: "import " + k.kind, args: "FILE", nargs: 1, summary: "import " + k.what + "; FILE is streamed (\"-\": standard input), with progress and rows/s on standard error",
			setup: func(fs *flag.FlagSet) runner { return importFile(fs, k.path) }})
	}
	return cmds
}
