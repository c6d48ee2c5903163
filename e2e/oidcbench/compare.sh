#!/usr/bin/env bash
# compare.sh runs the same login load against mcfed and against
# node-oidc-provider, alternately, and prints the ratio of mcfed's whole
# logins per server CPU-second to node-oidc-provider's flows per server
# CPU-second, for each ID token algorithm.
#
# mcfed: `mcfed dev` (three nodes, the simulated SMSC and handset, in one
# process), driven by `loadgen logins`: discovery, authorize, the SMS over
# SMPP read from the handset, the code typed, token, userinfo (7 HTTP
# requests a login, handset polls aside), for load SPs registered with
# the algorithm. node-oidc-provider: server.js (one Node process, a login
# that approves at once, PKCE), driven by `loadgen oidc`: authorize, the
# interaction, the resumed authorize, token, userinfo (5 HTTP requests a
# flow). Each server's CPU time (user + system) is read from
# /proc/<pid>/stat before and after each run; the load generator runs in
# its own process and is not counted.
#
#   e2e/oidcbench/compare.sh
#
# Environment: RUNS (alternations per algorithm, 3), DURATION (of a run,
# 20s), WARMUP (an uncounted first run of each server, 5s), USERS (16),
# ALGS ("RS256 ES256"), SUBSCRIBERS (per operator and mcfed run, 2000).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
USERS=${USERS:-16}
ALGS=${ALGS:-"RS256 ES256"}
SUBSCRIBERS=${SUBSCRIBERS:-2000}

work=$(mktemp -d "${TMPDIR:-/tmp}/oidcbench.XXXXXX")
mpid= npid=
cleanup() {
	for p in $mpid $npid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

echo "building mcfed and loadgen"
(cd "$root" && go build -o "$work/mcfed" . && go build -o "$work/loadgen" ./e2e/loadgen)
if [ ! -d "$here/node_modules/oidc-provider" ]; then
	echo "installing oidc-provider (npm ci)"
	(cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

"$work/mcfed" dev --data-dir "$work/dev" >"$work/dev.log" 2>&1 &
mpid=$!
NODE_ENV=production node "$here/server.js" --port 0 >"$work/oidc.log" 2>&1 &
npid=$!
for _ in $(seq 600); do
	[ -s "$work/dev/dev.json" ] && grep -q '^listening ' "$work/oidc.log" && break
	kill -0 "$mpid" "$npid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$work/dev/dev.json" ] || ! grep -q '^listening ' "$work/oidc.log"; then
	echo "a server did not start:" >&2
	cat "$work/dev.log" "$work/oidc.log" >&2
	exit 1
fi
issuer=$(sed -n 's/^listening //p' "$work/oidc.log")
echo "mcfed dev: pid $mpid; node-oidc-provider $(node -p "require('$here/node_modules/oidc-provider/package.json').version") on node $(node --version): pid $npid, $issuer"
echo "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# per_cpu_second NOUN: the figure loadgen printed in run.out, kept in figure.
per_cpu_second() {
	grep -o "[0-9.]* $1 per server CPU-second" "$work/run.out" | cut -d' ' -f1 >"$work/figure"
}

mcfed_run() { # alg duration
	"$work/loadgen" logins --dev "$work/dev/dev.json" --server-pid "$mpid" --alg "$1" --users "$USERS" \
		--duration "$2" --subscribers "$SUBSCRIBERS" >"$work/run.out"
	grep -E '^(logins|server|errors|  )' "$work/run.out" | sed 's/^/  mcfed  /'
	per_cpu_second logins
}

oidc_run() { # alg duration
	local client
	client="bench-$(echo "$1" | tr '[:upper:]' '[:lower:]')"
	"$work/loadgen" oidc --issuer "$issuer" --server-pid "$npid" --client-id "$client" --alg "$1" \
		--users "$USERS" --duration "$2" >"$work/run.out"
	grep -E '^(flows|server|errors|  )' "$work/run.out" | sed 's/^/  oidc   /'
	per_cpu_second flows
}

summary=""
for alg in $ALGS; do
	echo
	echo "== $alg: warm-up ($WARMUP each, not counted)"
	mcfed_run "$alg" "$WARMUP" >/dev/null
	oidc_run "$alg" "$WARMUP" >/dev/null
	ratios=""
	for i in $(seq "$RUNS"); do
		echo "== $alg run $i of $RUNS"
		# Alternate which server goes first, so that neither always
		# follows the other's garbage or the machine's other work.
		if [ $((i % 2)) -eq 1 ]; then
			mcfed_run "$alg" "$DURATION" && m=$(cat "$work/figure")
			oidc_run "$alg" "$DURATION" && o=$(cat "$work/figure")
		else
			oidc_run "$alg" "$DURATION" && o=$(cat "$work/figure")
			mcfed_run "$alg" "$DURATION" && m=$(cat "$work/figure")
		fi
		r=$(awk -v m="$m" -v o="$o" 'BEGIN { printf "%.2f", m / o }')
		echo "   $alg run $i: mcfed $m logins per server CPU-second, oidc-provider $o flows per server CPU-second: ratio $r"
		ratios="$ratios $r"
		summary="$summary$alg run $i: mcfed $m, oidc-provider $o, ratio $r"$'\n'
	done
	summary="$summary$alg ratios:$ratios (median $(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'))"$'\n'
done
echo
echo "== mcfed logins per server CPU-second / node-oidc-provider flows per server CPU-second"
printf '%s' "$summary"
