// Command loadgen drives an mcfed federation as SPs do, from a separate
// process, and prints throughput and latency percentiles.
//
//	loadgen setup     --admin URL --token T [--ranges 1000000 --ported 10000000]
//	loadgen bare      --addr 127.0.0.1:9099 --body-size 1200
//	loadgen discovery --url http://127.0.0.1:8080 --secret S [--compare http://127.0.0.1:9099] [--users 64 --duration 10s]
//	loadgen discovery --dev <data dir>/dev.json [--users 64 --duration 10s]
//	loadgen logins    --dev <data dir>/dev.json [--users 16 --duration 20s --subscribers 1000 --logins N]
//	                  [--alg ES256] [--server-pid PID] [--phase-logins N]
//	loadgen oidc      --issuer http://127.0.0.1:PORT [--client-id bench-es256 --alg ES256] [--server-pid PID]
//
// setup writes a national numbering plan into a node through its admin API
// (six operators with sealing keys, ranges, ported numbers, an SP); bare
// serves a fixed body of the size of a discovery answer with a bare fiber
// handler, the baseline to compare with; discovery sends the GSMA Java
// SDK's discovery request for numbers of that plan and, with --compare,
// runs the same load against the baseline first and prints the ratio.
//
// With --dev, discovery and logins drive a running `mcfed dev` as its
// dev.json describes it: discovery on all nodes in turn, as the demo SP,
// for numbers of the demo operators' ranges; logins does whole Mobile
// Connect logins (discovery, authorize, the SMS read from the simulated
// handset, the code typed, token, userinfo) for subscribers it first
// provisions through each operator's admin API, and prints logins/s and
// latency percentiles per phase, and logins per server CPU-second: the
// CPU time of the server process (dev.json's pid, or --server-pid) read
// from /proc before and after the run. --phase-logins adds a pass that
// charges the server's CPU to each phase (see phaseReport).
//
// oidc runs authorization code flows with PKCE (authorize, a login
// interaction that approves at once, token, userinfo) against a
// general-purpose OpenID provider, e2e/oidcbench's node-oidc-provider, and
// prints flows/s and flows per server CPU-second: the baseline of
// e2e/oidcbench/compare.sh.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen setup|bare|discovery|logins|oidc [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	case "discovery":
		err = discovery(os.Args[2:])
	case "logins":
		err = logins(os.Args[2:])
	case "oidc":
		err = oidc(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
