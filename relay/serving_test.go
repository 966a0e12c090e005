package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// servingSnapshot is a one-relay site for node a on ip with its UDP and TCP
// listeners on port.
func servingSnapshot(t *testing.T, ip string, port int) (*cluster.Snapshot, *cluster.Node) {
	t.Helper()
	return testSnapshot(t, fmt.Sprintf("  - {name: a, ipv4: %s, internal: \"%s:7801\", relay: {udp_port: %d, tcp_port: %d}}\n", ip, ip, port, port))
}

// TestPartCheckListenerDown closes a running relay's TCP listener, then
// its UDP socket, under it: Check fails naming each, the listener_up gauge
// drops, and a restart on a new port serves again.
func TestPartCheckListenerDown(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	logger, logs := testkit.NewLogger()
	p := startPart(t, Config{Registerer: reg, Logger: logger, UDPSockets: 1})
	snap, self := servingSnapshot(t, "127.0.0.61", 3491)
	p.Apply(ctx, snap, self)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("check of a fresh relay: %v", err)
	}
	r := p.Relay()
	mustClient(t, "tcp", "127.0.0.1", "127.0.0.61:3491", "before")

	// The accept loop ends on the closed socket: a permanent error.
	_ = r.listeners[0].Listener.Close()
	testkit.Eventually(t, 5*time.Second, "check to fail", func() bool { return p.Check(ctx) != nil })
	err := p.Check(ctx)
	if !errors.Is(err, ErrListenerDown) || !strings.Contains(err.Error(), "tcp 127.0.0.61:3491") {
		t.Errorf("check = %v, want the TCP listener named", err)
	}
	if strings.Contains(err.Error(), "udp ") {
		t.Errorf("check = %v names the UDP listener, which still serves", err)
	}
	if v := testkit.Metric(t, reg, "meridian_relay_listener_up", "listener", "tcp"); v != 0 {
		t.Errorf("listener_up{tcp} = %v, want 0", v)
	}
	if v := testkit.Metric(t, reg, "meridian_relay_listener_up", "listener", "udp"); v != 1 {
		t.Errorf("listener_up{udp} = %v, want 1", v)
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="relay listener stopped serving" listener="tcp 127.0.0.61:3491"`) {
		t.Errorf("no error logged for the stopped listener:\n%s", logs)
	}

	_ = r.udp[0].conn.Close()
	testkit.Eventually(t, 5*time.Second, "check to name the UDP socket", func() bool {
		err := p.Check(ctx)
		return err != nil && strings.Contains(err.Error(), "udp 127.0.0.61:3491")
	})

	// A new relay (the port moved) serves again.
	snap, self = servingSnapshot(t, "127.0.0.61", 3492)
	p.Apply(ctx, snap, self)
	if err := p.Check(ctx); err != nil {
		t.Errorf("check after restart: %v", err)
	}
	mustClient(t, "tcp", "127.0.0.1", "127.0.0.61:3492", "after")

	// A normal stop is not a failure and logs none.
	before := strings.Count(logs.String(), "level=ERROR")
	p.Apply(ctx, nil, nil)
	if err := p.Check(ctx); err != nil {
		t.Errorf("check with no relay to run: %v", err)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != before {
		t.Errorf("%d errors logged by a normal stop:\n%s", n-before, logs)
	}
}

// TestPartCheckNotStarted: a relay that cannot bind its port fails Check
// until one starts.
func TestPartCheckNotStarted(t *testing.T) {
	ctx := t.Context()
	busy := udpSocket(t, "127.0.0.62:3493")
	p := startPart(t, Config{UDPSockets: 1})
	snap, self := servingSnapshot(t, "127.0.0.62", 3493)
	p.Apply(ctx, snap, self)
	err := p.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "not started") || !strings.Contains(err.Error(), "127.0.0.62:3493") {
		t.Fatalf("check = %v, want the relay not started on 127.0.0.62:3493", err)
	}
	_ = busy.Close()
	p.Apply(ctx, snap, self) // the next snapshot tries again
	if err := p.Check(ctx); err != nil {
		t.Errorf("check once started: %v", err)
	}
	p.Apply(ctx, nil, nil)
	if err := p.Check(ctx); err != nil {
		t.Errorf("check once removed: %v", err)
	}
}

// tempError is a temporary net.Error, like EMFILE from accept.
type tempError struct{}

func (tempError) Error() string   { return "accept: too many open files (test)" }
func (tempError) Timeout() bool   { return false }
func (tempError) Temporary() bool { return true }

// flakyListener fails its first fails Accept calls with a temporary error.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, tempError{}
	}
	return l.Listener.Accept()
}

// TestAcceptTemporaryErrors: the TCP accept loop rides out temporary
// errors with backoff, counts them, logs one line a second with the count
// of those it held back, and accepts again.
func TestAcceptTemporaryErrors(t *testing.T) {
	const fails = 8 // 5+10+...+640 ms of backoff: the log limiter's second passes
	reg := prometheus.NewRegistry()
	logger, logs := testkit.NewLogger()
	fl := &flakyListener{}
	fl.fails.Store(fails)
	var start time.Time
	r := startRelay(t, "127.0.0.63", Config{Relay: cluster.Relay{UDPPort: 3494, TCPPort: 3494, TLSPort: -1}, Registerer: reg, Logger: logger, UDPSockets: 1},
		func(r *Relay) {
			fl.Listener = r.listeners[0].Listener
			r.listeners[0].Listener = fl
			start = time.Now()
		})

	testkit.Eventually(t, 10*time.Second, "the temporary errors", func() bool { return fl.fails.Load() < 0 })
	mustClient(t, "tcp", "127.0.0.1", "127.0.0.63:3494", "alice")
	took := time.Since(start)
	t.Logf("accepting again %s after start", took.Round(time.Millisecond))
	if took < 1270*time.Millisecond {
		t.Errorf("accepting again after %s: the backoff was skipped", took)
	}
	if err := r.Serving(); err != nil {
		t.Errorf("serving: %v", err)
	}
	if v := testkit.Metric(t, reg, "meridian_relay_accept_errors_total", "listener", "tcp"); v != fails {
		t.Errorf("accept_errors_total{tcp} = %v, want %d", v, fails)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="relay accept error; retrying"`); n != 1 {
		t.Errorf("%d accept error lines, want 1 (rate limited):\n%s", n, out)
	}
	if !strings.Contains(out, `level=WARN msg="relay accept error; retrying" listener="tcp 127.0.0.63:3494"`) {
		t.Errorf("no WARN line naming the listener:\n%s", out)
	}
	if !strings.Contains(out, fmt.Sprintf(`msg="relay listener accepting again" listener="tcp 127.0.0.63:3494" errors=%d suppressed=%d`, fails, fails-1)) {
		t.Errorf("no line counting the errors held back:\n%s", out)
	}
}

// TestTemporaryAcceptError sorts accept errors.
func TestTemporaryAcceptError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{tempError{}, true},
		{&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{net.ErrClosed, false},
		{&net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}, false},
		{errors.New("boom"), false},
	} {
		if got := temporaryAcceptError(tc.err); got != tc.want {
			t.Errorf("temporaryAcceptError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	var d time.Duration
	var seq []time.Duration
	for range 10 {
		d = nextBackoff(d)
		seq = append(seq, d)
	}
	if seq[0] != 5*time.Millisecond || seq[1] != 10*time.Millisecond || seq[9] != time.Second {
		t.Errorf("backoff %v", seq)
	}
}
