#!/usr/bin/env bash
# Relay benchmark: the same loads against coturn's turnserver and against
# the Meridian relay, on loopback, in one run, over UDP and over TCP.
#
#   - saturating: relay/bench/turnload keeps a window of ChannelData in
#     flight per allocation, reading and writing in batches, so the server
#     runs flat out; it reports packets/s and the server's CPU over the
#     measured span.
#   - paced: turnutils_uclient (-t for TCP) sends every INTERVAL ms per
#     client; uclient is the limit, so packets/s is the same for both and
#     packets per CPU second measures the relay's cost per wakeup.
#
# The servers run on CPU SERVER_CPU and every load process on LOAD_CPU
# (taskset), so each server has one CPU (and the Go relay GOMAXPROCS 1).
# Prints every run, the medians and the Meridian/coturn ratios.
#
#   relay/bench/bench.sh            (from the module root; `make bench-relay`)
#
# Environment: TRANSPORTS (udp tcp), LOADS (saturating paced), RUNS per
# server and load (3, median reported), SIZE bytes (100); saturating:
# SAT_CLIENTS (16), SAT_WINDOW messages in flight per client (32),
# SAT_SECONDS (5); paced: CLIENTS (20), MESSAGES per client (2000),
# INTERVAL ms between a client's messages (1); SERVER_CPU (0), LOAD_CPU
# (1), RELAY_BIN (a meridian-relay built already, to compare revisions;
# default: build this tree's), GO (go), BUILD_LOCK (a flock file to build under; not the one held
# around the whole benchmark), MERIDIAN_FLAGS (extra meridian-relay flags).
set -euo pipefail

TRANSPORTS=${TRANSPORTS:-udp tcp}
LOADS=${LOADS:-saturating paced}
SAT_CLIENTS=${SAT_CLIENTS:-16}
SAT_WINDOW=${SAT_WINDOW:-32}
SAT_SECONDS=${SAT_SECONDS:-5}
CLIENTS=${CLIENTS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-100}
INTERVAL=${INTERVAL:-1}
RUNS=${RUNS:-3}
GO=${GO:-go}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

COTURN_IP=127.0.0.61
MERIDIAN_IP=127.0.0.62
PEER_IP=127.0.0.63
CLIENT_IP=127.0.0.64
PORT=3478
MIN_PORT=49152
MAX_PORT=65535
REALM=support.example.com

for bin in turnserver turnutils_uclient turnutils_peer stdbuf taskset; do
	command -v "$bin" >/dev/null || { echo "bench-relay: $bin not found (Debian packages coturn, coreutils)" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# A throwaway secret: the benchmark never sees a site's PSK.
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

if [ -n "${RELAY_BIN:-}" ]; then
	cp "$RELAY_BIN" "$tmp/meridian-relay"
else
	${BUILD_LOCK:+flock "$BUILD_LOCK"} "$GO" build -o "$tmp/meridian-relay" ./relay/cmd/meridian-relay
fi
${BUILD_LOCK:+flock "$BUILD_LOCK"} "$GO" build -o "$tmp/turnload" ./relay/bench/turnload
srv=(taskset -c "$SERVER_CPU")
load=(taskset -c "$LOAD_CPU")

cat >"$tmp/turnserver.conf" <<CONF
listening-ip=$COTURN_IP
relay-ip=$COTURN_IP
listening-port=$PORT
min-port=$MIN_PORT
max-port=$MAX_PORT
use-auth-secret
static-auth-secret=$secret
realm=$REALM
no-cli
no-tls
no-dtls
no-tcp-relay
allow-loopback-peers
allowed-peer-ip=$PEER_IP
no-multicast-peers
userdb=$tmp/turndb
pidfile=$tmp/turnserver.pid
log-file=$tmp/turnserver.log
simple-log
no-stdout-log
CONF

"${load[@]}" turnutils_peer -L "$PEER_IP" -p 3480 >"$tmp/peer.log" 2>&1 &
pids+=($!)
"${srv[@]}" turnserver -c "$tmp/turnserver.conf" >/dev/null 2>&1 &
pids+=($!)
coturn_pid=$!
MERIDIAN_RELAY_SECRET=$secret "${srv[@]}" "$tmp/meridian-relay" -addr "$MERIDIAN_IP" -port "$PORT" \
	-min-port "$MIN_PORT" -max-port "$MAX_PORT" -realm "$REALM" -allow-peers "$PEER_IP/32" \
	${MERIDIAN_FLAGS:-} 2>"$tmp/meridian.log" &
pids+=($!)
meridian_pid=$!
sleep 1

hz=$(getconf CLK_TCK)
# cpu PID: user+system CPU seconds of a process so far (all its threads).
cpu() { awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }

# paced SERVER_IP TRANSPORT PID: one uclient load; prints "packets/s
# cpu_s packets/cpu_s server_util load_cpu_s lost". The transmit phase is
# timed from uclient's "Total connect time" line to its totals line, so
# the allocation phase (uclient's own pacing, the same for both servers)
# is left out; the server's CPU is read at those two lines too.
paced() {
	local t=""
	[ "$2" = tcp ] && t=-t
	stdbuf -oL "${load[@]}" turnutils_uclient $t -W "$secret" -u bench -e "$PEER_IP" -r 3480 \
		-m "$CLIENTS" -n "$MESSAGES" -l "$SIZE" -z "$INTERVAL" -c -L "$CLIENT_IP" "$1" 2>&1 |
		while IFS= read -r line; do
			case $line in
			*"Total connect time"* | *"start_mclient: tot_send_msgs="*) printf '%s %s cpu=%s\n' "$(date +%s.%N)" "$line" "$(cpu "$3")" ;;
			*) printf '%s %s\n' "$(date +%s.%N)" "$line" ;;
			esac
		done >"$tmp/uclient.out"
	awk '
		/Total connect time/ && !start { start = $1; c0 = $NF; sub(/cpu=/, "", c0) }
		/start_mclient: tot_send_msgs=/ { end = $1; c1 = $NF; sub(/cpu=/, "", c1); split($0, a, /tot_send_msgs=|, tot_recv_msgs=/); sent = a[2] + 0; recv = a[3] + 0 }
		/Total lost packets/ { lost = $6 }
		END {
			if (!start || !end) exit 1
			s = end - start; u = c1 - c0; if (u < 0.01) u = 0.01
			# Every message crosses the relay twice (to the peer and back).
			printf "%.0f %.2f %.0f %.2f - %d\n", (sent + recv) / s, u, (sent + recv) / u, u / s, lost
		}
	' "$tmp/uclient.out"
}

# saturating SERVER_IP TRANSPORT PID: one turnload run, same fields.
saturating() {
	local t=""
	[ "$2" = tcp ] && t=-tcp
	TURNLOAD_SECRET=$secret "${load[@]}" "$tmp/turnload" $t -server "$1:$PORT" -peer "$PEER_IP" -local "$CLIENT_IP" \
		-pid "$3" -clients "$SAT_CLIENTS" -window "$SAT_WINDOW" -size "$SIZE" -duration "${SAT_SECONDS}s" >"$tmp/turnload.out" 2>&1 || return 1
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END { if (!v["pps"]) exit 1; printf "%s %s %s %s %s %s\n", v["pps"], v["server_cpu"], v["ppc"], v["server_util"], v["load_cpu"], v["lost"] }' "$tmp/turnload.out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v m="$1" -v c="$2" 'BEGIN { printf "%.2f", m / c }'; }

printf '%-10s %-4s %-9s %4s %10s %7s %14s %6s %7s %7s\n' load net server run packets/s cpu_s packets/cpu_s util load_s lost
summary=()
for load_kind in $LOADS; do
	for net in $TRANSPORTS; do
		# Alternate the servers so drifting load on the machine hits both alike.
		for i in $(seq "$RUNS"); do
			for name in coturn meridian; do
				ip=$COTURN_IP pid=$coturn_pid
				[ "$name" = meridian ] && ip=$MERIDIAN_IP pid=$meridian_pid
				read -r rate used per_cpu util load_s lost < <("$load_kind" "$ip" "$net" "$pid") || {
					echo "bench-relay: $load_kind $net run against $name failed" >&2
					cat "$tmp/uclient.out" "$tmp/turnload.out" 2>/dev/null | tail -20 >&2
					exit 1
				}
				printf '%-10s %-4s %-9s %4d %10d %7.2f %14d %6.2f %7s %7d\n' "$load_kind" "$net" "$name" "$i" "$rate" "$used" "$per_cpu" "$util" "$load_s" "$lost"
				echo "$rate" >>"$tmp/$load_kind-$net-$name.pps"
				echo "$per_cpu" >>"$tmp/$load_kind-$net-$name.ppc"
			done
		done
		c_pps=$(median <"$tmp/$load_kind-$net-coturn.pps")
		m_pps=$(median <"$tmp/$load_kind-$net-meridian.pps")
		c_ppc=$(median <"$tmp/$load_kind-$net-coturn.ppc")
		m_ppc=$(median <"$tmp/$load_kind-$net-meridian.ppc")
		summary+=("$(printf '%-10s %-4s %10d %10d %6sx %14d %14d %6sx' "$load_kind" "$net" "$c_pps" "$m_pps" "$(ratio "$m_pps" "$c_pps")" "$c_ppc" "$m_ppc" "$(ratio "$m_ppc" "$c_ppc")")")
	done
done
printf '\nsaturating: %d clients, %d messages of %d bytes in flight each, %d s measured; paced: %d clients x %d messages of %d bytes, %d ms apart; %d runs each, medians\n' \
	"$SAT_CLIENTS" "$SAT_WINDOW" "$SIZE" "$SAT_SECONDS" "$CLIENTS" "$MESSAGES" "$SIZE" "$INTERVAL" "$RUNS"
printf '%-10s %-4s %10s %10s %7s %14s %14s %7s\n' load net coturn_pps meridian_pps ratio coturn_ppc meridian_ppc ratio
printf '%s\n' "${summary[@]}"
