package relay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

func TestPeerClass(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		class string // "" allowed
	}{
		// IPv4
		{"8.8.8.8", ""},
		{"203.0.114.1", ""},
		{"0.0.0.0", "this-network"},
		{"0.1.2.3", "this-network"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "cgnat"},
		{"100.127.255.254", "cgnat"},
		{"127.0.0.1", "loopback"},
		{"127.0.0.21", "loopback"},
		{"169.254.169.254", "metadata"},
		{"169.254.1.1", "link-local"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"192.0.2.1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		// IPv6
		{"2606:4700::1111", ""},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "ipv4-mapped/loopback"},
		{"::ffff:10.0.0.1", "ipv4-mapped/private"},
		{"::ffff:169.254.169.254", "ipv4-mapped/metadata"},
		{"::ffff:8.8.8.8", "ipv4-mapped"},
		{"::127.0.0.1", "ipv4-compatible"},
		{"::8.8.8.8", "ipv4-compatible"},
		{"64:ff9b::7f00:1", "nat64"},
		{"64:ff9b::808:808", "nat64"},
		{"64:ff9b:1::a00:1", "nat64-local"},
		{"2002:7f00:1::1", "6to4"},
		{"2002:808:808::1", "6to4"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "ula"},
		{"fd12:3456::1", "ula"},
		{"ff02::1", "multicast"},
		{"2001:db8::1", "documentation"},
		{"100::1", "discard"},
		{"4000::1", "reserved"},
	} {
		got := PeerClass(netip.MustParseAddr(tc.addr))
		if got != tc.class {
			t.Errorf("PeerClass(%s) = %q, want %q", tc.addr, got, tc.class)
		}
	}
}

func TestPeerFilter(t *testing.T) {
	own := netip.MustParseAddr("198.51.100.7")
	relayed := netip.MustParseAddrPort("198.51.100.7:50000")
	f := newPeerFilter([]netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("fd00:9::/32")},
		[]netip.Addr{own, netip.MustParseAddr("10.9.0.7")})
	isRelayed := func(ap netip.AddrPort) bool { return ap == relayed }
	for _, tc := range []struct {
		peer       string
		permitIP   bool
		permitSend bool
	}{
		{"8.8.8.8:53", true, true},
		{"[2606:4700::1111]:443", true, true},
		{"127.0.0.1:8080", false, false},
		{"[::ffff:127.0.0.1]:8080", false, false},
		{"[::1]:22", false, false},
		{"10.0.0.1:22", false, false},
		{"10.9.1.1:3000", true, true},      // allow-listed
		{"[fd00:9::1]:3000", true, true},   // allow-listed
		{"[fd00:8::1]:3000", false, false}, // ULA, not listed
		{"198.51.100.7:50000", true, true}, // a relayed address of this relay
		{"[::ffff:198.51.100.7]:50000", true, true},
		{"198.51.100.7:50001", true, false}, // own address, not relayed: health, admin
		{"198.51.100.7:22", true, false},    // SSH on the node
		{"10.9.0.7:8080", true, false},      // own internal address, even though allow-listed
		{"169.254.169.254:80", false, false},
	} {
		ap := netip.MustParseAddrPort(tc.peer)
		if got := f.permitIP(ap.Addr()); got != tc.permitIP {
			t.Errorf("permitIP(%s) = %v, want %v", ap.Addr(), got, tc.permitIP)
		}
		if got := f.permitSend(ap, isRelayed); got != tc.permitSend {
			t.Errorf("permitSend(%s) = %v, want %v", ap, got, tc.permitSend)
		}
	}
}

// TestPeerRefusedThroughRelay asks a real relay for permissions to every
// class, both families: each is refused and counted.
func TestPeerRefusedThroughRelay(t *testing.T) {
	r := startRelay(t, "127.0.0.28", Config{})
	c := mustClient(t, "udp", "127.0.0.22", "127.0.0.28:3478", "alice")
	for _, peer := range []string{
		"127.0.0.1", "127.0.0.22", "0.0.0.0", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1",
		"169.254.169.254", "169.254.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1",
		"::", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::1",
		"2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "fe80::1", "fc00::1", "ff02::1",
	} {
		before := r.Stats().RefusedBy[ReasonPeer]
		addr := &net.UDPAddr{IP: net.ParseIP(peer), Port: 9}
		if err := c.client.CreatePermission(addr); err == nil {
			t.Errorf("permission to %s granted", peer)
		}
		if got := r.Stats().RefusedBy[ReasonPeer]; got <= before {
			t.Errorf("permission to %s: refusal not counted", peer)
		}
	}
	// A public peer is allowed: the filter is not refusing everything.
	if err := c.client.CreatePermission(&net.UDPAddr{IP: net.ParseIP("8.8.8.8"), Port: 9}); err != nil {
		t.Errorf("permission to a public peer refused: %v", err)
	}
}

// TestNodeServicesUnreachable runs a health endpoint on the relay's own
// address outside the relay range, allow-lists all of loopback, and checks
// that a client reaches a peer on loopback but never the endpoint. (pion v2
// relays no TCP, RFC 6062, so UDP is the only way out of the relay.)
func TestNodeServicesUnreachable(t *testing.T) {
	const ip = "127.0.0.30"
	r := startRelay(t, ip, Config{Relay: cluster.Relay{AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	health := udpSocket(t, ip+":8081")
	peer := udpSocket(t, "127.0.0.31:0")

	c := mustClient(t, "udp", "127.0.0.22", ip+":3478", "alice")
	for _, dst := range []net.Addr{health.LocalAddr(), peer.LocalAddr()} {
		if err := c.client.CreatePermission(dst); err != nil {
			t.Fatalf("permission to %s: %v", dst, err)
		}
	}
	for range 5 {
		if _, err := c.relayed.WriteTo([]byte("GET /healthz"), health.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.relayed.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	// The allow-listed peer hears the client...
	buf := make([]byte, 64)
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("allow-listed peer: %q, %v", buf[:n], err)
	}
	// ...the node's own endpoint never does.
	_ = health.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := health.ReadFrom(buf); err == nil {
		t.Fatalf("health endpoint received %q from %s through the relay", buf[:n], from)
	}
	if d := r.Stats().Live[0].Dropped; d != 5 {
		t.Errorf("%d sends dropped, want the 5 to the health endpoint", d)
	}
}

// TestLoopbackRefusedByDefault: without an allow-list, a loopback peer is
// refused even when it is on the relay's own address.
func TestLoopbackRefusedByDefault(t *testing.T) {
	startRelay(t, "127.0.0.32", Config{})
	c := mustClient(t, "udp", "127.0.0.22", "127.0.0.32:3478", "bob")
	for _, peer := range []string{"127.0.0.31:9", "127.0.0.1:9"} {
		ap := netip.MustParseAddrPort(peer)
		if err := c.client.CreatePermission(net.UDPAddrFromAddrPort(ap)); err == nil {
			t.Errorf("loopback peer %s permitted without an allow-list", peer)
		}
	}
}
