package relay

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// raiseNoFile raises the open file limit to the hard limit and returns it.
func raiseNoFile(t *testing.T) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	return lim.Cur
}

// TestIdleTCPConnectionsCheap: many TCP connections that send nothing
// cost the relay little memory (no frame buffer while idle), and a valid
// client allocates and streams meanwhile.
func TestIdleTCPConnectionsCheap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	limit := raiseNoFile(t)
	// Both ends live in this process: two descriptors a connection.
	n := min(10000, int(limit-400)/2)
	const perSource = 200
	r := startRelay(t, "127.0.0.80", Config{}, func(r *Relay) { r.authTimeout = 5 * time.Minute })
	server := "127.0.0.80:3478"

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for i := range n {
		src := fmt.Sprintf("127.0.%d.%d", 100+i/perSource/250, 1+i/perSource%250)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp4", server)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	tl := r.tcpListeners()[0]
	testkit.Eventually(t, 60*time.Second, "the relay to accept every connection", func() bool { return tl.open() == n })
	opened := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapInuse) - int64(before.HeapInuse)
	stack := int64(after.StackInuse) - int64(before.StackInuse)
	t.Logf("%d idle connections (both ends in this process) opened in %s: heap +%.1f MiB (%d B each), stacks +%.1f MiB (%d B each)",
		n, opened.Round(time.Millisecond), float64(heap)/(1<<20), heap/int64(n), float64(stack)/(1<<20), stack/int64(n))
	if scaled := (heap + stack) * 10000 / int64(n); scaled > 64<<20 {
		t.Errorf("10,000 idle connections would cost %.1f MiB of heap and stacks, want at most 64", float64(scaled)/(1<<20))
	}

	// A valid client allocates and streams through all that.
	a := mustClient(t, "tcp", "127.0.0.81", server, "alice")
	b := mustClient(t, "udp", "127.0.0.81", "127.0.0.80:3478", "bob")
	if err := stream(b, a, 300, 1000); err != nil {
		t.Fatalf("stream to the TCP client: %v", err)
	}
	if err := stream(a, b, 300, 1000); err != nil {
		t.Fatalf("stream from the TCP client: %v", err)
	}
}

// TestAuthTimeout: a TCP or TLS connection without an allocation is
// closed after the deadline, TLS handshake or not; one with an allocation
// stays open past it.
func TestAuthTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ip := "127.0.0.82"
	cert := testkit.SelfSigned(t, ip)
	reg := prometheus.NewRegistry()
	startRelay(t, ip, Config{Registerer: reg, CertFile: cert.CertFile, KeyFile: cert.KeyFile, Relay: cluster.Relay{TLSPort: 5351}},
		func(r *Relay) { r.authTimeout = timeout })

	silent := func(addr string) {
		t.Helper()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		start := time.Now()
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: read %v, want EOF: the relay did not close the idle connection", addr, err)
		}
		t.Logf("%s: idle connection closed after %s", addr, time.Since(start).Round(time.Millisecond))
	}
	silent(ip + ":3478")
	silent(ip + ":5351")

	c := mustClient(t, "tcp", "127.0.0.83", ip+":3478", "alice")
	time.Sleep(3 * timeout)
	if err := c.client.CreatePermission(&net.UDPAddr{IP: net.ParseIP("8.8.8.8"), Port: 9}); err != nil {
		t.Fatalf("the allocated connection did not outlive the deadline: %v", err)
	}
	for _, l := range []string{"tcp", "tls"} {
		if v := testkit.Metric(t, reg, "meridian_relay_connections_closed_total", "listener", l, "reason", closeAuthTimeout); v != 1 {
			t.Errorf("connections_closed_total{%s,auth_timeout} = %v, want 1", l, v)
		}
	}
}

// TestSourceLimit: connections past the per-source cap are closed at once
// and counted; other sources are not affected.
func TestSourceLimit(t *testing.T) {
	const max = 3
	reg := prometheus.NewRegistry()
	r := startRelay(t, "127.0.0.84", Config{Registerer: reg}, func(r *Relay) { r.maxConnsPerSource = max })
	var kept []net.Conn
	defer func() {
		for _, c := range kept {
			c.Close()
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.85")}}
	for range max + 2 {
		c, err := d.Dial("tcp4", "127.0.0.84:3478")
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c)
	}
	closed := 0
	for _, c := range kept {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed != 2 {
		t.Errorf("%d connections closed, want 2", closed)
	}
	if got := r.Stats().RefusedBy[ReasonSourceLimit]; got != 2 {
		t.Errorf("refusals[source_limit] = %d, want 2", got)
	}
	if v := testkit.Metric(t, reg, "meridian_relay_refusals_total", "reason", ReasonSourceLimit); v != 2 {
		t.Errorf("refusals_total{source_limit} = %v", v)
	}
	// Another source allocates.
	mustClient(t, "tcp", "127.0.0.86", "127.0.0.84:3478", "alice")
	// Closing one frees a place for its source.
	kept[0].Close()
	testkit.Eventually(t, 5*time.Second, "the place to free", func() bool {
		r.sources.mu.Lock()
		defer r.sources.mu.Unlock()
		return r.sources.n[mustAddr("127.0.0.85")] < max
	})
	mustClient(t, "tcp", "127.0.0.85", "127.0.0.84:3478", "bob")
}
