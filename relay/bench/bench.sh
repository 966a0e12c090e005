#!/usr/bin/env bash
# Relay benchmark: the same turnutils_uclient load against coturn's
# turnserver and against the Meridian relay, on loopback, in one run.
# Prints per-server transmit time, packets per second, loss, the server's
# CPU time and packets per CPU second, and the Meridian/coturn ratios.
# uclient paces itself, so on a small machine packets/s mostly measures
# uclient; packets per CPU second measures the relay's hot path.
#
#   relay/bench/bench.sh            (from the module root; `make bench-relay`)
#
# Environment: CLIENTS (50), MESSAGES per client (2000), SIZE bytes (100),
# INTERVAL ms between a client's messages (1), RUNS per server (3, median
# reported), GO (go), BUILD_LOCK (a flock file to build under),
# MERIDIAN_FLAGS (extra meridian-relay flags).
set -euo pipefail

CLIENTS=${CLIENTS:-50}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-100}
INTERVAL=${INTERVAL:-1}
RUNS=${RUNS:-3}
GO=${GO:-go}

COTURN_IP=127.0.0.61
MERIDIAN_IP=127.0.0.62
PEER_IP=127.0.0.63
CLIENT_IP=127.0.0.64
PORT=3478
MIN_PORT=49152
MAX_PORT=65535
REALM=support.example.com

for bin in turnserver turnutils_uclient turnutils_peer stdbuf; do
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

${BUILD_LOCK:+flock "$BUILD_LOCK"} "$GO" build -o "$tmp/meridian-relay" ./relay/cmd/meridian-relay

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

turnutils_peer -L "$PEER_IP" -p 3480 >"$tmp/peer.log" 2>&1 &
pids+=($!)
turnserver -c "$tmp/turnserver.conf" >/dev/null 2>&1 &
pids+=($!)
coturn_pid=$!
MERIDIAN_RELAY_SECRET=$secret "$tmp/meridian-relay" -addr "$MERIDIAN_IP" -port "$PORT" \
	-min-port "$MIN_PORT" -max-port "$MAX_PORT" -realm "$REALM" -allow-peers "$PEER_IP/32" \
	${MERIDIAN_FLAGS:-} 2>"$tmp/meridian.log" &
pids+=($!)
meridian_pid=$!
sleep 1

hz=$(getconf CLK_TCK)
# cpu PID: user+system CPU seconds of a process so far (all its threads).
cpu() { awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }

# run SERVER_IP: one uclient load; prints "transmit_seconds sent received lost".
# The transmit phase is timed from uclient's "Total connect time" line to
# its totals line, so the allocation phase (uclient's own pacing, the same
# for both servers) is left out.
run() {
	stdbuf -oL turnutils_uclient -W "$secret" -u bench -e "$PEER_IP" -r 3480 \
		-m "$CLIENTS" -n "$MESSAGES" -l "$SIZE" -z "$INTERVAL" -c -L "$CLIENT_IP" "$1" 2>&1 |
		while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$tmp/uclient.out"
	awk '
		/Total connect time/ { start = $1 }
		/start_mclient: tot_send_msgs=/ { end = $1; split($0, a, /tot_send_msgs=|, tot_recv_msgs=/); sent = a[2] + 0; recv = a[3] + 0 }
		/Total lost packets/ { lost = $6 }
		END { if (!start || !end) exit 1; printf "%.3f %d %d %d\n", end - start, sent, recv, lost }
	' "$tmp/uclient.out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A pps ppc
printf '%-9s %4s %10s %9s %9s %7s %10s %7s %14s\n' server run transmit_s sent received lost packets/s cpu_s packets/cpu_s
# Alternate the servers so drifting load on the machine hits both alike.
for i in $(seq "$RUNS"); do
	for name in coturn meridian; do
		ip=$COTURN_IP pid=$coturn_pid
		[ "$name" = meridian ] && ip=$MERIDIAN_IP pid=$meridian_pid
		c0=$(cpu "$pid")
		read -r secs sent recv lost < <(run "$ip") || { echo "bench-relay: uclient run against $name failed" >&2; cat "$tmp/uclient.out" >&2; exit 1; }
		c1=$(cpu "$pid")
		# Every message crosses the relay twice (to the peer and back).
		read -r rate used per_cpu < <(awk -v s="$secs" -v a="$sent" -v b="$recv" -v c0="$c0" -v c1="$c1" \
			'BEGIN { u = c1 - c0; if (u < 0.01) u = 0.01; printf "%.0f %.2f %.0f\n", (a + b) / s, u, (a + b) / u }')
		printf '%-9s %4d %10.3f %9d %9d %7d %10d %7.2f %14d\n' "$name" "$i" "$secs" "$sent" "$recv" "$lost" "$rate" "$used" "$per_cpu"
		echo "$rate" >>"$tmp/$name.pps"
		echo "$per_cpu" >>"$tmp/$name.ppc"
	done
done
for name in coturn meridian; do
	pps[$name]=$(median <"$tmp/$name.pps")
	ppc[$name]=$(median <"$tmp/$name.ppc")
done
ratio() { awk -v m="$1" -v c="$2" 'BEGIN { printf "%.2f", m / c }'; }
printf 'load: %d clients x %d messages of %d bytes, %d ms apart, %d runs each\n' "$CLIENTS" "$MESSAGES" "$SIZE" "$INTERVAL" "$RUNS"
printf 'median packets/s:       coturn %8d  meridian %8d  ratio meridian/coturn %sx\n' "${pps[coturn]}" "${pps[meridian]}" "$(ratio "${pps[meridian]}" "${pps[coturn]}")"
printf 'median packets/cpu_s:   coturn %8d  meridian %8d  ratio meridian/coturn %sx\n' "${ppc[coturn]}" "${ppc[meridian]}" "$(ratio "${ppc[meridian]}" "${ppc[coturn]}")"
