package relay

import (
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

func TestStreamBothWays(t *testing.T) {
	const n, size = 600, 1000
	for _, tc := range []struct {
		name    string
		ip      string
		network string
	}{
		{"udp", "127.0.0.21", "udp"},
		{"tcp", "127.0.0.24", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			r := startRelay(t, tc.ip, Config{Registerer: reg})
			server := tc.ip + ":3478"
			a := mustClient(t, tc.network, "127.0.0.22", server, "customer")
			b := mustClient(t, tc.network, "127.0.0.23", server, "rep")
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Add(2)
			go func() { defer wg.Done(); errs <- stream(a, b, n, size) }()
			go func() { defer wg.Done(); errs <- stream(b, a, n, size) }()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			s := r.Stats()
			if s.Allocations != 2 || len(s.Live) != 2 {
				t.Fatalf("live allocations %d (%d listed), want 2", s.Allocations, len(s.Live))
			}
			for _, al := range s.Live {
				want := uint64(n * size)
				if al.ToPeerBytes != want || al.ToClientBytes != want || al.ToPeerPackets != n || al.ToClientPackets != n {
					t.Errorf("allocation %d (%s): to peer %d bytes/%d packets, to client %d bytes/%d packets; want %d/%d each way",
						al.ID, al.User, al.ToPeerBytes, al.ToPeerPackets, al.ToClientBytes, al.ToClientPackets, want, n)
				}
				if al.Dropped != 0 {
					t.Errorf("allocation %d dropped %d packets", al.ID, al.Dropped)
				}
			}
			if s.ToPeerBytes != 2*n*size || s.ToClientBytes != 2*n*size {
				t.Errorf("node totals: to peer %d, to client %d; want %d", s.ToPeerBytes, s.ToClientBytes, 2*n*size)
			}
			for _, m := range []struct {
				family string
				labels []string
				want   float64
			}{
				{"meridian_relay_allocations", nil, 2},
				{"meridian_relay_bytes_total", []string{"direction", "to_peer"}, 2 * n * size},
				{"meridian_relay_bytes_total", []string{"direction", "to_client"}, 2 * n * size},
				{"meridian_relay_packets_total", []string{"direction", "to_peer"}, 2 * n},
			} {
				if got := testkit.Metric(t, reg, m.family, m.labels...); got != m.want {
					t.Errorf("%s%q = %v, want %v", m.family, m.labels, got, m.want)
				}
			}
			if s.Users["customer"] != 1 || s.Users["rep"] != 1 {
				t.Errorf("users %v", s.Users)
			}

			// Ended allocations keep their accounting in the totals.
			a.close()
			b.close()
			testkit.Eventually(t, 5*time.Second, "allocations to end", func() bool { return r.Stats().Allocations == 0 })
			s = r.Stats()
			if s.ToPeerBytes != 2*n*size || s.ToClientBytes != 2*n*size || s.AllocationsTotal != 2 {
				t.Errorf("after close: to peer %d, to client %d, total %d", s.ToPeerBytes, s.ToClientBytes, s.AllocationsTotal)
			}
		})
	}
}

func TestAllocationEndCallback(t *testing.T) {
	ended := make(chan AllocationStats, 4)
	startRelay(t, "127.0.0.25", Config{OnAllocationEnd: func(s AllocationStats) { ended <- s }})
	a := mustClient(t, "udp", "127.0.0.22", "127.0.0.25:3478", "customer")
	b := mustClient(t, "udp", "127.0.0.23", "127.0.0.25:3478", "rep")
	if err := stream(a, b, 10, 100); err != nil {
		t.Fatal(err)
	}
	a.close()
	select {
	case s := <-ended:
		if s.User != "customer" || s.ToPeerBytes != 1000 || s.ToPeerPackets != 10 || s.End.IsZero() || s.End.Before(s.Start) {
			t.Errorf("ended allocation %+v", s)
		}
		if got, ok := addrPortOf(a.conn.LocalAddr()); !ok || s.Client != got {
			t.Errorf("client %s, want %s", s.Client, a.conn.LocalAddr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no end callback")
	}
}
