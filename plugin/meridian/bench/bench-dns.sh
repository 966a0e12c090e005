#!/usr/bin/env bash
# make bench-dns: dnsperf against three CoreDNS servers started from the
# same meridian binary, one after the other, with the same queries:
#   (a) meridian answering the traffic hostname with the geo method and ECS,
#   (b) CoreDNS's file plugin serving a zone with the same record,
#   (c) CoreDNS's whoami plugin, the trivial-answer ceiling.
# Prints QPS and latency of each and the ratios a/b and a/c (targets: a/b
# >= 1.0, a/c >= 0.9).
#
# Environment: GO (go), BIN (bin/meridian, built here), SECS (4, per run),
# ROUNDS (5), CLIENTS (4), OUTSTANDING (200), PORT (1153; uses PORT..PORT+2).
set -euo pipefail
cd "$(dirname "$0")/../../.."

GO=${GO:-go}
BIN=${BIN:-bin/meridian}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-5}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
PORT=${PORT:-1153}
# ECS option (code 8): family 1, source /24, scope 0, 203.0.113.0 - a
# network the benchmark's GeoIP database places in Paris.
ECS="8:00011800cb0071"

command -v dnsperf >/dev/null || { echo "bench-dns: dnsperf not found (Debian package dnsperf)" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$(dirname "$BIN")"
$GO build -o "$BIN" ./cmd/meridian
$GO run ./plugin/meridian/bench/benchsetup -site zones/example.yaml -out "$work" -port "$PORT" >"$work/setup.txt"
read -r qname node addr <"$work/setup.txt"
echo "$qname A" >"$work/queries"
echo "query: $qname A, ECS 203.0.113.0/24 (expected answer $node $addr)"

# wait_answer PORT: until the server answers the query with NOERROR.
wait_answer() {
	for _ in $(seq 1 100); do
		if dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -n 1 -t 1 -e -E "$ECS" 2>/dev/null |
			grep -q 'NOERROR'; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-dns: server on port $1 does not answer" >&2
	return 1
}

# start NAME PORT: start one server and wait for its answer.
pids=()
start() {
	"$BIN" dns -conf "$work/Corefile.$1" >"$work/$1.log" 2>&1 &
	pids+=($!)
	wait_answer "$2"
}

# run NAME PORT ROUND: one dnsperf run; prints "QPS LATENCY_MS LOST".
run() {
	local out="$work/$1.$3.out"
	dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries" -l "$SECS" -c "$CLIENTS" -q "$OUTSTANDING" \
		-e -E "$ECS" >"$out" 2>&1
	awk '/Queries per second:/ {q = $4} /Average Latency/ {l = $4 * 1000} /Queries lost:/ {x = $3}
		END {printf "%.0f %.3f %s\n", q, l, x}' "$out"
}

start meridian "$PORT"
start file "$((PORT + 1))"
start whoami "$((PORT + 2))"
pid="${pids[*]}"

# The machine is shared: the servers take turns, ROUNDS times, and each
# one's median round is reported.
echo "dnsperf: $ROUNDS rounds of ${SECS}s per server, $CLIENTS clients, $OUTSTANDING outstanding, $(nproc) CPUs"
for r in $(seq 1 "$ROUNDS"); do
	# Alternate the order so that no server always follows the same one.
	order="meridian:$PORT file:$((PORT + 1)) whoami:$((PORT + 2))"
	if [ $((r % 2)) -eq 0 ]; then order="whoami:$((PORT + 2)) file:$((PORT + 1)) meridian:$PORT"; fi
	for sp in $order; do
		run "${sp%%:*}" "${sp##*:}" "$r" >>"$work/${sp%%:*}.runs"
	done
done
kill ${pids[*]} 2>/dev/null || true
wait ${pids[*]} 2>/dev/null || true
pid=""

median() { sort -n "$work/$1.runs" | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}'; }
for s in meridian file whoami; do
	read -r qps lat lost <<<"$(median "$s")"
	printf '%-9s %8.0f QPS   avg latency %6.3f ms   lost %s   (rounds: %s)\n' "$s" "$qps" "$lat" "$lost" \
		"$(awk '{printf "%s%s", sep, $1; sep = " "}' "$work/$s.runs")"
	eval "qps_$s=$qps"
done
awk -v a="$qps_meridian" -v b="$qps_file" -v c="$qps_whoami" 'BEGIN {
	printf "meridian/file   %.2fx (target >= 1.0)\n", a / b
	printf "meridian/whoami %.2fx (target >= 0.9)\n", a / c
}'
