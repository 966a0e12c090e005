package relay

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// updateSnapshot is a one-node site on 127.0.0.97 with the given relay
// settings (YAML flow mapping body).
func updateSnapshot(t *testing.T, relay string) (*cluster.Snapshot, *cluster.Node) {
	t.Helper()
	return testSnapshot(t, fmt.Sprintf("  - {name: a, ipv4: 127.0.0.97, internal: \"127.0.0.97:7801\", relay: {%s}}\n", relay))
}

// TestLimitChangeDuringStream: a snapshot that changes only limits and
// peer rules applies to the running relay and a live stream loses
// nothing; a changed TCP port replaces the TCP listener alone, and UDP
// allocations continue.
func TestLimitChangeDuringStream(t *testing.T) {
	ctx := t.Context()
	p := startPart(t, Config{Registerer: prometheus.NewRegistry(), UDPSockets: 2})
	apply := func(relay string) {
		snap, self := updateSnapshot(t, relay)
		p.Apply(ctx, snap, self)
	}
	const ports = "udp_port: 3495, tcp_port: 3495, port_min: 41000, port_max: 41999"
	apply(ports)
	r := p.Relay()
	if r == nil {
		t.Fatal("relay not started")
	}
	server := "127.0.0.97:3495"
	a := mustClient(t, "udp", "127.0.0.98", server, "a")
	b := mustClient(t, "tcp", "127.0.0.98", server, "b")

	errc := make(chan error, 1)
	go func() { errc <- stream(a, b, 3000, 1000) }()
	changes := []string{
		ports + ", max_allocations: 50, max_allocations_per_user: 5",
		ports + ", max_allocations: 50, allocation_bps: 50000000, node_bps: 100000000",
		ports + ", max_allocations: 40, allocation_bps: 60000000, node_bps: 100000000, allow_peers: [198.51.100.0/24]",
	}
	for _, c := range changes {
		time.Sleep(50 * time.Millisecond)
		apply(c)
		if p.Relay() != r {
			t.Fatalf("limit change %q restarted the relay", c)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("stream across limit changes: %v", err)
	}
	q := r.conf().Relay
	if q.MaxAllocations != 40 || q.AllocationBPS != 60000000 || len(q.AllowPeers) != 1 {
		t.Errorf("limits not applied: %+v", q)
	}
	if r.node.Load() == nil {
		t.Error("node bandwidth cap not applied")
	}

	// A new TCP port: the TCP listener moves, the UDP allocation stays.
	apply("udp_port: 3495, tcp_port: 3496, port_min: 41000, port_max: 41999, max_allocations: 40")
	if p.Relay() != r {
		t.Fatal("a TCP port change restarted the relay")
	}
	if got := r.TCPAddr().String(); got != "127.0.0.97:3496" {
		t.Errorf("TCP listener on %s", got)
	}
	if err := p.Check(ctx); err != nil {
		t.Errorf("check after the move: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, "the moved listener's allocation to end", func() bool { return r.Stats().Users["b"] == 0 })
	c := mustClient(t, "tcp", "127.0.0.99", "127.0.0.97:3496", "c")
	if err := stream(a, c, 500, 1000); err != nil {
		t.Fatalf("UDP allocation after the TCP move: %v", err)
	}
	if err := stream(c, a, 500, 1000); err != nil {
		t.Fatalf("stream from the new TCP listener: %v", err)
	}
	// The UDP port moves too: its listener is replaced, the new one serves.
	apply("udp_port: 3497, tcp_port: 3496, port_min: 41000, port_max: 41999")
	if p.Relay() != r {
		t.Fatal("a UDP port change restarted the relay")
	}
	testkit.Eventually(t, 5*time.Second, "the moved UDP listener's allocation to end", func() bool { return r.Stats().Users["a"] == 0 })
	d := mustClient(t, "udp", "127.0.0.99", "127.0.0.97:3497", "d")
	if err := stream(d, c, 300, 1000); err != nil {
		t.Fatalf("stream after the UDP move: %v", err)
	}
	if err := p.Probe(ctx); err != nil {
		t.Errorf("probe after the moves: %v", err)
	}
}
