package relay

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

var (
	uclientLost  = regexp.MustCompile(`Total lost packets (\d+) `)
	uclientTotal = regexp.MustCompile(`start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)`)
)

// TestInteropCoturnClient drives a Meridian relay with coturn's
// turnutils_uclient (TURN REST secret, -W) against turnutils_peer, over
// UDP and TCP: every message must come back.
func TestInteropCoturnClient(t *testing.T) {
	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not installed (Debian package coturn)")
	}
	peerBin, err := exec.LookPath("turnutils_peer")
	if err != nil {
		t.Skip("turnutils_peer not installed (Debian package coturn)")
	}
	for _, tc := range []struct {
		name  string
		relay string
		peer  string
		flags []string
	}{
		{"udp", "127.0.0.44", "127.0.0.45", nil},
		{"tcp", "127.0.0.46", "127.0.0.47", []string{"-t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, tc.relay, Config{Relay: cluster.Relay{
				AllowPeers: []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(tc.peer), 32)},
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			peer := exec.CommandContext(ctx, peerBin, "-L", tc.peer, "-p", "3480")
			if err := peer.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = peer.Process.Kill(); _ = peer.Wait() }()

			const clients, messages, size = 10, 50, 101 // odd size: exercises TCP padding
			args := append([]string{"-W", string(testSecret), "-u", "interop", "-e", tc.peer, "-r", "3480",
				"-n", strconv.Itoa(messages), "-m", strconv.Itoa(clients), "-l", strconv.Itoa(size), "-z", "5",
				"-L", "127.0.0.48"}, tc.flags...)
			args = append(args, tc.relay)
			out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient: %v\n%s", err, out)
			}
			lost := uclientLost.FindSubmatch(out)
			total := uclientTotal.FindSubmatch(out)
			if lost == nil || total == nil {
				t.Fatalf("unexpected turnutils_uclient output:\n%s", out)
			}
			sent, _ := strconv.Atoi(string(total[1]))
			recv, _ := strconv.Atoi(string(total[2]))
			if string(lost[1]) != "0" || sent == 0 || recv != sent || sent < clients*messages {
				t.Fatalf("lost %s, sent %d, received %d (want %d+ and none lost)\n%s", lost[1], sent, recv, clients*messages, out)
			}
			s := r.Stats()
			if s.AllocationsTotal < clients || s.ToPeerPackets < uint64(sent) || s.ToClientPackets < uint64(recv) {
				t.Errorf("relay accounting %d allocations, %d/%d packets for %d sent", s.AllocationsTotal, s.ToPeerPackets, s.ToClientPackets, sent)
			}
			if s.Refused != 0 {
				t.Errorf("relay refused %d requests: %v", s.Refused, s.RefusedBy)
			}
		})
	}
}

// TestInteropCoturnClientRefused: coturn's client with a wrong secret or
// an expired credential gets 401 with a nonce, retries with it as against
// coturn, is refused again and gives up.
func TestInteropCoturnClientRefused(t *testing.T) {
	uclient, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not installed (Debian package coturn)")
	}
	r := startRelay(t, "127.0.0.49", Config{})
	for _, tc := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"wrong secret", []string{"-W", "00000000000000000000000000000000wrong"}, ReasonBadPassword},
		{"expired", func() []string {
			u, p := cluster.RelayCredential(testSecret, "old", time.Now().Add(-time.Hour))
			return []string{"-u", u, "-w", p}
		}(), ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			before := r.Stats().RefusedBy[tc.reason]
			args := append([]string{"-u", "interop", "-n", "1", "-m", "1", "-y", "-L", "127.0.0.48"}, tc.args...)
			args = append(args, "127.0.0.49")
			out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
			if err == nil && !strings.Contains(string(out), "Cannot complete Allocation") {
				t.Fatalf("turnutils_uclient allocated with a %s:\n%s", tc.name, out)
			}
			if got := r.Stats().RefusedBy[tc.reason] - before; got < 1 {
				t.Errorf("refusals[%s] grew by %d:\n%s", tc.reason, got, out)
			}
			t.Logf("%s: %d refusals counted, client output: %s", tc.name, r.Stats().RefusedBy[tc.reason]-before, strings.TrimSpace(string(out)))
		})
	}
}
