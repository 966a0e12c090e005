package relay

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/cluster"
)

func TestQuotas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		quota   cluster.Relay
		users   []string // allocations in order
		refuse  int      // index of the first refused allocation
		code    string
		reason  string
	}{
		{"per user udp", "udp", cluster.Relay{MaxAllocationsPerUser: 2}, []string{"a", "a", "b", "a"}, 3, "486", ReasonUserQuota},
		{"per user tcp", "tcp", cluster.Relay{MaxAllocationsPerUser: 1}, []string{"a", "b", "a"}, 2, "486", ReasonUserQuota},
		{"per node", "udp", cluster.Relay{MaxAllocations: 3}, []string{"a", "b", "c", "d"}, 3, "508", ReasonNodeQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, "127.0.0.33", Config{Relay: tc.quota})
			for i, user := range tc.users {
				_, err := dialUser(t, tc.network, "127.0.0.22", "127.0.0.33:3478", user)
				if i < tc.refuse {
					if err != nil {
						t.Fatalf("allocation %d (%s): %v", i, user, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.code) {
					t.Fatalf("allocation %d (%s): %v, want error %s", i, user, err, tc.code)
				}
			}
			if got := r.Stats().RefusedBy[tc.reason]; got != 1 {
				t.Errorf("refusals[%s] = %d, want 1", tc.reason, got)
			}
			if got := r.Stats().Allocations; got != tc.refuse {
				t.Errorf("%d live allocations, want %d", got, tc.refuse)
			}
		})
	}
}

func TestBandwidthCaps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quota cluster.Relay
	}{
		{"per allocation", cluster.Relay{AllocationBPS: 100_000}},
		{"per node", cluster.Relay{NodeBPS: 100_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rate = 100_000
			r := startRelay(t, "127.0.0.34", Config{Relay: tc.quota})
			a := mustClient(t, "udp", "127.0.0.22", "127.0.0.34:3478", "a")
			b := mustClient(t, "udp", "127.0.0.23", "127.0.0.34:3478", "b")
			if err := b.client.CreatePermission(a.relayed.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			received := make(chan int, 1)
			go func() {
				total := 0
				buf := make([]byte, 2048)
				for {
					_ = b.relayed.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
					n, _, err := b.relayed.ReadFrom(buf)
					if err != nil {
						received <- total
						return
					}
					total += n
				}
			}()
			// Offer 4x the cap for one second.
			pkt := make([]byte, 1000)
			start := time.Now()
			for i := 0; time.Since(start) < time.Second; i++ {
				binary.BigEndian.PutUint32(pkt, uint32(i))
				if _, err := a.relayed.WriteTo(pkt, b.relayed.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				if i%4 == 3 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			elapsed := time.Since(start)
			got := <-received
			// Both directions of both allocations share the node cap; an
			// allocation's cap counts its bytes in and out. Either way
			// a's stream through the relay is bounded by the cap plus its
			// burst.
			limit := int(elapsed.Seconds()*rate) + rate/5 + 4*1600
			if got > limit {
				t.Errorf("received %d bytes in %s, cap allows %d", got, elapsed, limit)
			}
			if got < rate/4 {
				t.Errorf("received only %d bytes in %s: cap far too strict", got, elapsed)
			}
			var dropped uint64
			for _, al := range r.Stats().Live {
				dropped += al.Dropped
			}
			if dropped == 0 {
				t.Error("no packet counted as dropped")
			}
		})
	}
}

func TestDrain(t *testing.T) {
	r := startRelay(t, "127.0.0.35", Config{})
	server := "127.0.0.35:3478"
	a := mustClient(t, "udp", "127.0.0.22", server, "customer")
	b := mustClient(t, "tcp", "127.0.0.23", server, "rep")
	if err := stream(a, b, 50, 200); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		alternate string
		code      string
	}{
		{"127.0.0.36:3478", "300"},
		{"", "508"},
	} {
		if err := r.SetDraining(true, tc.alternate); err != nil {
			t.Fatal(err)
		}
		for _, network := range []string{"udp", "tcp"} {
			if _, err := dialUser(t, network, "127.0.0.24", server, "late"); err == nil || !strings.Contains(err.Error(), tc.code) {
				t.Errorf("allocation over %s while draining (alternate %q): %v, want %s", network, tc.alternate, err, tc.code)
			}
		}
		// The existing stream goes on, both ways.
		if err := stream(a, b, 50, 200); err != nil {
			t.Fatalf("existing stream while draining: %v", err)
		}
		if err := stream(b, a, 50, 200); err != nil {
			t.Fatalf("existing stream while draining: %v", err)
		}
	}
	if got := r.Stats().RefusedBy[ReasonDraining]; got != 4 {
		t.Errorf("draining refusals %d, want 4", got)
	}
	if err := r.SetDraining(true, "not-an-address"); err == nil {
		t.Error("bad alternate accepted")
	}
	if err := r.SetDraining(false, ""); err != nil {
		t.Fatal(err)
	}
	mustClient(t, "udp", "127.0.0.24", server, "late")
}

// TestTryAlternateNamesServer checks the 300 answer's ALTERNATE-SERVER and
// integrity with a raw STUN exchange.
func TestTryAlternateNamesServer(t *testing.T) {
	r := startRelay(t, "127.0.0.37", Config{})
	if err := r.SetDraining(true, "127.0.0.36"); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp4", "127.0.0.37:3478")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, integrity := allocateRaw(t, conn, false)
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil || code.Code != stun.CodeTryAlternate {
		t.Fatalf("answer %v, code %v (%v), want 300", res, code, err)
	}
	var alt stun.AlternateServer
	if err := alt.GetFrom(res); err != nil || alt.IP.String() != "127.0.0.36" || alt.Port != cluster.DefaultTURNPort {
		t.Errorf("alternate server %v (%v)", alt, err)
	}
	if err := integrity.Check(res); err != nil {
		t.Errorf("answer integrity: %v", err)
	}
}
