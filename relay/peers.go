package relay

import (
	"net"
	"net/netip"
)

// peerClass is one deny-by-default address class.
type peerClass struct {
	prefix netip.Prefix
	name   string
}

// deniedPeers are the classes no client may reach through the relay
// unless AllowPeers names them. IPv4-mapped addresses are classified by
// the IPv4 address they embed before this table is consulted (a relay
// socket sends to ::ffff:127.0.0.1 as to 127.0.0.1), and the mapped range
// itself is listed too, so a mapped address never passes as IPv6 unicast.
// Transition prefixes (NAT64, 6to4, Teredo) are denied whole: each embeds
// an IPv4 address that a gateway would reach on the client's behalf.
var deniedPeers = func() []peerClass {
	t := []struct{ p, name string }{
		{"0.0.0.0/8", "this-network"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "cgnat"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.169.254/32", "metadata"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "ietf-protocol"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4-relay"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved"},

		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::ffff:0:0/96", "ipv4-mapped"},
		{"::/96", "ipv4-compatible"},
		{"64:ff9b::/96", "nat64"},
		{"64:ff9b:1::/48", "nat64-local"},
		{"100::/64", "discard"},
		{"2001::/32", "teredo"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4"},
		{"fc00::/7", "ula"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]peerClass, len(t))
	for i, c := range t {
		out[i] = peerClass{prefix: netip.MustParsePrefix(c.p), name: c.name}
	}
	return out
}()

// globalUnicast6 is the only IPv6 space allocated for global unicast; the
// rest is reserved.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// PeerClass names the deny-by-default class of addr, or "" when addr is
// an ordinary public unicast address.
func PeerClass(addr netip.Addr) string {
	if !addr.IsValid() {
		return "invalid"
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		// Check what the socket would really reach first.
		if c := PeerClass(addr.Unmap()); c != "" {
			return "ipv4-mapped/" + c
		}
	}
	for _, c := range deniedPeers {
		if c.prefix.Contains(addr) {
			return c.name
		}
	}
	if addr.Is6() && !globalUnicast6.Contains(addr) {
		return "reserved"
	}
	return ""
}

// peerFilter decides which peers a client may reach.
type peerFilter struct {
	allow []netip.Prefix
	// own are the node's addresses: reachable only on live relayed ports,
	// so the node's services (admin API, health, BGP, SSH) stay out of reach
	// whatever AllowPeers says.
	own map[netip.Addr]bool
}

func newPeerFilter(allow []netip.Prefix, own []netip.Addr) *peerFilter {
	f := &peerFilter{allow: allow, own: map[netip.Addr]bool{}}
	for _, a := range own {
		f.own[a.Unmap()] = true
	}
	return f
}

func (f *peerFilter) allowed(addr netip.Addr) bool {
	for _, p := range f.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// permitIP is the CreatePermission/ChannelBind check, which sees only the
// peer's IP. The node's own addresses pass here; permitSend then admits
// only its relayed ports.
func (f *peerFilter) permitIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if f.own[ip] {
		return true
	}
	return f.allowed(ip) || PeerClass(ip) == ""
}

// permitSend is the send-time check on the full peer address. relayed
// reports whether an address is a live relayed address of this relay.
func (f *peerFilter) permitSend(ap netip.AddrPort, relayed func(netip.AddrPort) bool) bool {
	ip := ap.Addr().Unmap()
	ap = netip.AddrPortFrom(ip, ap.Port())
	if relayed(ap) {
		return true
	}
	if f.own[ip] {
		return false
	}
	return f.allowed(ip) || PeerClass(ip) == ""
}

// addrPortOf converts a peer net.Addr without allocating.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Port < 0 || a.Port > 65535 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), true
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Port < 0 || a.Port > 65535 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}
