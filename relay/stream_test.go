package relay

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stream sends n packets of size bytes from a to b's relayed address, each
// numbered, in windows the receiver acknowledges, and checks that b
// receives every one in order with the right content.
func stream(t *testing.T, from, to *turnClient, n, size int) error {
	t.Helper()
	// TURN drops peer data without a permission: the receiver opens one
	// for the sender's relayed address first.
	if err := to.client.CreatePermission(from.relayed.LocalAddr()); err != nil {
		return fmt.Errorf("create permission: %w", err)
	}
	var got atomic.Int64
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for i := range n {
			_ = to.relayed.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, _, err := to.relayed.ReadFrom(buf)
			if err != nil {
				errc <- fmt.Errorf("packet %d: %w", i, err)
				return
			}
			if m != size {
				errc <- fmt.Errorf("packet %d: %d bytes, want %d", i, m, size)
				return
			}
			if seq := binary.BigEndian.Uint32(buf); seq != uint32(i) {
				errc <- fmt.Errorf("packet %d arrived as number %d", i, seq)
				return
			}
			for j := 4; j < m; j++ {
				if buf[j] != byte(i+j) {
					errc <- fmt.Errorf("packet %d: byte %d corrupted", i, j)
					return
				}
			}
			got.Add(1)
		}
		errc <- nil
	}()
	dst := to.relayed.LocalAddr()
	pkt := make([]byte, size)
	const window = 32
	for i := range n {
		binary.BigEndian.PutUint32(pkt, uint32(i))
		for j := 4; j < size; j++ {
			pkt[j] = byte(i + j)
		}
		if _, err := from.relayed.WriteTo(pkt, dst); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		// Keep at most a window in flight: loopback drops nothing but
		// a full socket buffer.
		for deadline := time.Now().Add(5 * time.Second); int64(i)-got.Load() >= window; {
			if time.Now().After(deadline) {
				return fmt.Errorf("receiver stalled at %d of %d", got.Load(), n)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	return <-errc
}

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
			go func() { defer wg.Done(); errs <- stream(t, a, b, n, size) }()
			go func() { defer wg.Done(); errs <- stream(t, b, a, n, size) }()
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
				family, label, value string
				want                 float64
			}{
				{"meridian_relay_allocations", "", "", 2},
				{"meridian_relay_bytes_total", "direction", "to_peer", 2 * n * size},
				{"meridian_relay_bytes_total", "direction", "to_client", 2 * n * size},
				{"meridian_relay_packets_total", "direction", "to_peer", 2 * n},
			} {
				if got := metricValue(t, reg, m.family, m.label, m.value); got != m.want {
					t.Errorf("%s{%s=%q} = %v, want %v", m.family, m.label, m.value, got, m.want)
				}
			}
			if s.Users["customer"] != 1 || s.Users["rep"] != 1 {
				t.Errorf("users %v", s.Users)
			}

			// Ended allocations keep their accounting in the totals.
			a.close()
			b.close()
			waitFor(t, "allocations to end", 5*time.Second, func() bool { return r.Stats().Allocations == 0 })
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
	if err := stream(t, a, b, 10, 100); err != nil {
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
