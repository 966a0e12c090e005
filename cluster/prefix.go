package cluster

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePrefix reads a network prefix in every form the appliance accepts:
// "10.1.0.0/16", "10.1.0.0/255.255.0.0" (dotted mask), "10.1.2.3" (a single
// address) and IPv6 CIDR. A non-contiguous mask, host bits set, a zone and
// an IPv4-mapped IPv6 prefix are errors, never silently fixed.
func ParsePrefix(s string) (netip.Prefix, error) {
	addrPart, maskPart, hasMask := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: %q is not an IP address", s, addrPart)
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: an address zone is not allowed in a prefix", s)
	}
	if addr.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: IPv4-mapped IPv6 prefix; write it as IPv4", s)
	}
	if !hasMask {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	bits, err := maskBits(s, addr, maskPart)
	if err != nil {
		return netip.Prefix{}, err
	}
	p := netip.PrefixFrom(addr, bits)
	if m := p.Masked(); m.Addr() != addr {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (the network is %s)", s, m)
	}
	return p, nil
}

// maskBits reads the part after the slash: a length, or a dotted IPv4 mask.
func maskBits(s string, addr netip.Addr, mask string) (int, error) {
	if mask == "" {
		return 0, fmt.Errorf("%q: empty prefix length", s)
	}
	if isDigits(mask) {
		n, err := strconv.Atoi(mask)
		if err != nil || n > addr.BitLen() || len(mask) > 3 {
			return 0, fmt.Errorf("%q: prefix length %s is out of range 0-%d", s, mask, addr.BitLen())
		}
		return n, nil
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("%q: %q is neither a prefix length nor a dotted netmask", s, mask)
	}
	if !addr.Is4() {
		return 0, fmt.Errorf("%q: a dotted netmask needs an IPv4 address", s)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	// A contiguous mask is ones then zeros: its complement plus one is a power of two.
	if inv := ^v; inv&(inv+1) != 0 {
		return 0, fmt.Errorf("%q is not a contiguous netmask", s)
	}
	n := 0
	for v != 0 {
		n++
		v <<= 1
	}
	return n, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseCIDR reads a canonical CIDR prefix (anycast and allow-lists), with
// the same checks as ParsePrefix but without the appliance's extra forms.
func ParseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		return netip.Prefix{}, fmt.Errorf("%q: want a prefix such as 203.0.113.0/24", s)
	}
	if _, m, _ := strings.Cut(s, "/"); !isDigits(m) {
		return netip.Prefix{}, fmt.Errorf("%q: want a prefix length, not a netmask", s)
	}
	return ParsePrefix(s)
}
