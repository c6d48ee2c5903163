#!/usr/bin/env bash
# compare.sh runs the same login load against mcfed and against
# node-oidc-provider, alternately, and prints the ratio of mcfed's whole
# logins per server CPU-second to node-oidc-provider's flows per server
# CPU-second, for each ID token algorithm and each of the provider's stores.
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
# The provider's store (PROVIDER_STORE, one or several, each its own
# server, each run in every alternation with mcfed's, its ratio to that
# run's mcfed figure): "memory", its default in-memory adapter, which its
# documentation calls development-only (the store of the figures before
# this option); "sqlite", durable as mcfed's state store is
# (sqlite_adapter.js: SQLite through better-sqlite3, WAL, synchronous=FULL,
# each commit fsynced, the writes waiting together sharing one commit as in
# mcfed's embedded store, expiry honoured on read and swept every 10 s);
# "sqlite-each", the same with each write its own commit and fsync. A
# SQLite store's rows, by model, are printed after each of its runs.
#
#   e2e/oidcbench/compare.sh
#   PROVIDER_STORE=sqlite RUNS=2 DURATION=15s e2e/oidcbench/compare.sh
#
# Environment: RUNS (alternations per algorithm, 3), DURATION (of a run,
# 20s), WARMUP (an uncounted first run of each server, 5s), USERS (16),
# ALGS ("RS256 ES256"), SUBSCRIBERS (per operator and mcfed run, 2000),
# PROVIDER_STORE ("memory"; or "sqlite", "sqlite-each", several with
# spaces).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
USERS=${USERS:-16}
ALGS=${ALGS:-"RS256 ES256"}
SUBSCRIBERS=${SUBSCRIBERS:-2000}
PROVIDER_STORE=${PROVIDER_STORE:-memory}
for store in $PROVIDER_STORE; do
	case $store in
	memory | sqlite | sqlite-each) ;;
	*)
		echo "PROVIDER_STORE: unknown store $store (memory, sqlite, sqlite-each)" >&2
		exit 2
		;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/oidcbench.XXXXXX")
mpid=
declare -A npid issuer # by store
cleanup() {
	for p in $mpid "${npid[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

echo "building mcfed and loadgen"
(cd "$root" && go build -o "$work/mcfed" . && go build -o "$work/loadgen" ./e2e/loadgen)
if [ ! -d "$here/node_modules/oidc-provider" ] || [ ! -d "$here/node_modules/better-sqlite3" ]; then
	echo "installing oidc-provider and better-sqlite3 (npm ci)"
	(cd "$here" && npm ci --no-audit --no-fund >/dev/null)
fi

"$work/mcfed" dev --data-dir "$work/dev" >"$work/dev.log" 2>&1 &
mpid=$!
for store in $PROVIDER_STORE; do
	case $store in
	memory) store_args=() ;;
	sqlite) store_args=(--sqlite "$work/$store.db") ;;
	sqlite-each) store_args=(--sqlite "$work/$store.db" --no-group-commit) ;;
	esac
	NODE_ENV=production node "$here/server.js" --port 0 "${store_args[@]}" >"$work/oidc-$store.log" 2>&1 &
	npid[$store]=$!
done
started() {
	[ -s "$work/dev/dev.json" ] || return 1
	for store in $PROVIDER_STORE; do
		grep -q '^listening ' "$work/oidc-$store.log" || return 1
	done
}
for _ in $(seq 600); do
	started && break
	kill -0 "$mpid" "${npid[@]}" 2>/dev/null || break
	sleep 0.1
done
if ! started; then
	echo "a server did not start:" >&2
	cat "$work/dev.log" "$work"/oidc-*.log >&2
	exit 1
fi
echo "mcfed dev: pid $mpid"
for store in $PROVIDER_STORE; do
	issuer[$store]=$(sed -n 's/^listening //p' "$work/oidc-$store.log")
	echo "node-oidc-provider $(node -p "require('$here/node_modules/oidc-provider/package.json').version") on node $(node --version), $store store: pid ${npid[$store]}, ${issuer[$store]}"
done
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

oidc_run() { # store alg duration
	local client
	client="bench-$(echo "$2" | tr '[:upper:]' '[:lower:]')"
	"$work/loadgen" oidc --issuer "${issuer[$1]}" --server-pid "${npid[$1]}" --client-id "$client" --alg "$2" \
		--users "$USERS" --duration "$3" >"$work/run.out"
	grep -E '^(flows|server|errors|  )' "$work/run.out" | sed "s/^/  oidc $1  /"
	if [ "$1" != memory ]; then
		# The rows the durable store keeps, read beside the server (not
		# counted): the flows' state really is in the file.
		echo "  oidc $1  rows $(node -e "$rows" "$work/$1.db") in $(du -ch "$work/$1.db"* | tail -1 | cut -f1) (db and wal)"
	fi
	per_cpu_second flows
}
rows="
const db = new (require('$here/node_modules/better-sqlite3'))(process.argv[1], { readonly: true });
console.log(db.prepare('SELECT model, count(*) AS n FROM oidc GROUP BY model').all().map((r) => r.model + ' ' + r.n).join(', ') || 'none');
"

# oidc_runs ALG DURATION [reverse]: a run on each store's server, in the
# order of PROVIDER_STORE or reversed; each figure is kept in o[store].
declare -A o
oidc_runs() {
	local stores=($PROVIDER_STORE) i
	if [ "${3:-}" = reverse ]; then
		for ((i = ${#stores[@]} - 1; i >= 0; i--)); do
			oidc_run "${stores[i]}" "$1" "$2" && o[${stores[i]}]=$(cat "$work/figure")
		done
	else
		for i in "${stores[@]}"; do
			oidc_run "$i" "$1" "$2" && o[$i]=$(cat "$work/figure")
		done
	fi
}

summary=""
for alg in $ALGS; do
	echo
	echo "== $alg: warm-up ($WARMUP each, not counted)"
	mcfed_run "$alg" "$WARMUP" >/dev/null
	oidc_runs "$alg" "$WARMUP" >/dev/null
	declare -A ratios=()
	for i in $(seq "$RUNS"); do
		echo "== $alg run $i of $RUNS"
		# Alternate which server goes first, so that none always
		# follows another's garbage or the machine's other work.
		if [ $((i % 2)) -eq 1 ]; then
			mcfed_run "$alg" "$DURATION" && m=$(cat "$work/figure")
			oidc_runs "$alg" "$DURATION"
		else
			oidc_runs "$alg" "$DURATION" reverse
			mcfed_run "$alg" "$DURATION" && m=$(cat "$work/figure")
		fi
		for store in $PROVIDER_STORE; do
			r=$(awk -v m="$m" -v o="${o[$store]}" 'BEGIN { printf "%.2f", m / o }')
			echo "   $alg run $i: mcfed $m logins per server CPU-second, oidc-provider ($store) ${o[$store]} flows per server CPU-second: ratio $r"
			ratios[$store]="${ratios[$store]:-} $r"
			summary="$summary$alg run $i: mcfed $m, oidc-provider ($store) ${o[$store]}, ratio $r"$'\n'
		done
		echo "   load average $(cut -d' ' -f1-3 /proc/loadavg)"
	done
	for store in $PROVIDER_STORE; do
		summary="$summary$alg ($store) ratios:${ratios[$store]} (median $(echo "${ratios[$store]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'))"$'\n'
	done
done
echo
echo "== mcfed logins per server CPU-second / node-oidc-provider flows per server CPU-second"
printf '%s' "$summary"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
