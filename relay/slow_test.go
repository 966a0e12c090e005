package relay

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestSlowReaderStallsNoOne: a TCP client that stops reading while a
// peer floods it loses its own data (its connection is closed when a
// write times out); a stream through a fast TCP client next to it loses
// nothing, and new TCP allocations go through meanwhile.
func TestSlowReaderStallsNoOne(t *testing.T) {
	const ip = "127.0.0.90"
	reg := prometheus.NewRegistry()
	r := startRelay(t, ip, Config{Registerer: reg, Relay: cluster.Relay{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		func(r *Relay) { r.writeTimeout = 2 * time.Second })
	server := ip + ":3478"

	// The slow reader: a tiny receive window, and it never reads.
	u, p := cluster.RelayCredential(testSecret, "slow", time.Now().Add(time.Hour))
	slow := newRawClient(t, "tcp", "127.0.0.91", server, u, p)
	res := slow.request(stun.MethodAllocate, udpTransport)
	if errorCode(t, res) != 0 {
		t.Fatalf("slow allocate: %v", res)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.0.92")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	pa := peer.LocalAddr().(*net.UDPAddr)
	if res := slow.request(stun.MethodChannelBind, channelAttr(0x4000), xorPeerAt{pa.IP.String(), pa.Port}); errorCode(t, res) != 0 {
		t.Fatalf("slow channel bind: %v", res)
	}
	if tc, ok := slow.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}

	// The flood: bounded in count and time, until the slow reader is cut.
	stop := make(chan struct{})
	var flood sync.WaitGroup
	flood.Add(1)
	var flooded int
	go func() {
		defer flood.Done()
		dst := &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
		pkt := make([]byte, 1200)
		deadline := time.Now().Add(30 * time.Second)
		for flooded < 200000 && time.Now().Before(deadline) {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := peer.WriteToUDP(pkt, dst); err != nil {
				return
			}
			flooded++
			if flooded%64 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	var stopOnce sync.Once
	stopFlood := func() { stopOnce.Do(func() { close(stop); flood.Wait() }) }
	defer stopFlood()

	// Wait until the relay's writes to the slow reader block: its
	// receive window and the relay's send buffer are full.
	time.Sleep(500 * time.Millisecond)

	fast := mustClient(t, "tcp", "127.0.0.93", server, "fast")
	other := mustClient(t, "udp", "127.0.0.93", server, "other")
	start := time.Now()
	if err := stream(other, fast, 2000, 1000); err != nil {
		t.Fatalf("stream to the fast TCP client: %v", err)
	}
	if err := stream(fast, other, 2000, 1000); err != nil {
		t.Fatalf("stream from the fast TCP client: %v", err)
	}
	streamed := time.Since(start)
	start = time.Now()
	mustClient(t, "tcp", "127.0.0.94", server, "late")
	allocated := time.Since(start)
	t.Logf("next to the slow reader: 2x2000 packets streamed in %s, a TCP allocation took %s", streamed.Round(time.Millisecond), allocated.Round(time.Millisecond))

	testkit.Eventually(t, 30*time.Second, "the slow reader to be cut", func() bool {
		return testkit.Metric(t, reg, "meridian_relay_connections_closed_total", "listener", "tcp", "reason", closeSlowReader) >= 1
	})
	testkit.Eventually(t, 10*time.Second, "the slow reader's allocation to end", func() bool { return r.Stats().Users["slow"] == 0 })
	stopFlood()
	t.Logf("peer sent %d packets to the slow reader (until cut, or 200000)", flooded)
}

// TestGarbageDropped: garbage and oversize datagrams and frames are
// dropped and counted; streams stay in sync and other clients unharmed.
func TestGarbageDropped(t *testing.T) {
	const ip = "127.0.0.95"
	reg := prometheus.NewRegistry()
	startRelay(t, ip, Config{Registerer: reg})
	server := ip + ":3478"
	a := mustClient(t, "udp", "127.0.0.96", server, "a")
	b := mustClient(t, "tcp", "127.0.0.96", server, "b")

	const garbage, oversize = 500, 100
	g, err := net.Dial("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		junk := make([]byte, 100)
		big := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: 0x8055, Value: make([]byte, 1980)}).Raw
		for i := range garbage + oversize {
			var pkt []byte
			if i < garbage {
				junk[0] = byte(0x80 + i%0x80) // neither STUN nor ChannelData
				if i%2 == 1 {
					junk[0] = 0 // STUN-like first byte, no magic cookie
				}
				pkt = junk
			} else {
				pkt = big
			}
			_, _ = g.Write(pkt)
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	if err := stream(a, b, 500, 1000); err != nil {
		t.Fatalf("stream during garbage: %v", err)
	}
	<-sent

	binding := func(c net.Conn) {
		t.Helper()
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := c.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		hdr := make([]byte, 20)
		if _, err := io.ReadFull(c, hdr); err != nil {
			t.Fatalf("no binding answer after the dropped frame: %v", err)
		}
		if binary.BigEndian.Uint16(hdr[0:2]) != 0x0101 || [12]byte(hdr[8:20]) != req.TransactionID {
			t.Fatalf("unexpected answer %x", hdr)
		}
	}
	// An oversize STUN frame and a STUN-framed non-STUN frame are skipped
	// whole: the stream stays in sync.
	for _, frame := range [][]byte{
		stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: 0x8055, Value: make([]byte, 3000)}).Raw,
		// 20-byte header without the magic cookie, 8 bytes of body.
		{0, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
	} {
		c, err := net.Dial("tcp4", server)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		binding(c)
		c.Close()
	}
	// Bytes that are no TURN framing end the connection.
	c, err := net.Dial("tcp4", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("garbage connection: %v, want it closed", err)
	}

	inv := func(l, reason string) float64 {
		return testkit.Metric(t, reg, "meridian_relay_invalid_messages_total", "listener", l, "reason", reason)
	}
	testkit.Eventually(t, 10*time.Second, "the datagrams counted", func() bool {
		return inv("udp", "garbage") >= garbage && inv("udp", "oversize") >= oversize
	})
	if v := inv("udp", "garbage"); v != garbage {
		t.Errorf("invalid{udp,garbage} = %v, want %d", v, garbage)
	}
	if v := inv("udp", "oversize"); v != oversize {
		t.Errorf("invalid{udp,oversize} = %v, want %d", v, oversize)
	}
	testkit.Eventually(t, 10*time.Second, "the frames counted", func() bool {
		return testkit.Metric(t, reg, "meridian_relay_connections_closed_total", "listener", "tcp", "reason", closeBadFrame) == 1
	})
	if v := inv("tcp", "oversize"); v != 1 {
		t.Errorf("invalid{tcp,oversize} = %v, want 1", v)
	}
	if v := inv("tcp", "garbage"); v != 2 {
		t.Errorf("invalid{tcp,garbage} = %v, want 2", v)
	}
	// Still serving both.
	if err := stream(b, a, 200, 1000); err != nil {
		t.Fatalf("stream after garbage: %v", err)
	}
}
