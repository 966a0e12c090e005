package cluster

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// bgp reads a node's bgp block: types, addresses, durations and defaults.
// Its rules are speakerRules, run by node once the node is complete.
func (c *checker) bgp(r *rawBGP, path string, n *Node) BGP {
	d := defaultBGP
	b := BGP{
		ASN:                 get(c, r.ASN, path+".asn", d.ASN),
		RouterID:            c.addr(r.RouterID, path+".router_id", 4),
		ListenAddr:          c.addr(r.ListenAddr, path+".listen_addr", 0),
		ListenPort:          get(c, r.ListenPort, path+".listen_port", d.ListenPort),
		Prepend:             get(c, r.Prepend, path+".prepend", d.Prepend),
		MED:                 get(c, r.MED, path+".med", d.MED),
		GracefulShutdown:    c.duration(r.GracefulShutdown, path+".graceful_shutdown", d.GracefulShutdown),
		MinAnnounceInterval: c.duration(r.MinAnnounceInterval, path+".min_announce_interval", d.MinAnnounceInterval),
		ConnectRetry:        c.duration(r.ConnectRetry, path+".connect_retry", d.ConnectRetry),
	}
	for i, v := range r.Command {
		b.Command = append(b.Command, get(c, v, fmt.Sprintf("%s.command[%d]", path, i), ""))
	}
	if !r.ASN.set {
		c.add(r.at, path+".asn", "required, %s", asnRange)
	}
	if !b.RouterID.IsValid() {
		b.RouterID = n.IPv4
		if !b.RouterID.IsValid() && !r.RouterID.set {
			c.add(r.at, path+".router_id", "required when the node has no ipv4")
		}
	}
	check := d.Check
	check.Target = n.Internal
	b.Check = c.health(r.Check, path+".check", check)
	for i, v := range r.Communities {
		b.Communities = append(b.Communities, get(c, v, fmt.Sprintf("%s.communities[%d]", path, i), ""))
	}
	for i, v := range r.LargeCommunities {
		b.LargeCommunities = append(b.LargeCommunities, get(c, v, fmt.Sprintf("%s.large_communities[%d]", path, i), ""))
	}
	for i, rn := range r.Neighbors {
		p := fmt.Sprintf("%s.neighbors[%d]", path, i)
		dn := defaultNeighbor
		nb := BGPNeighbor{
			Address:      c.addr(rn.Address, p+".address", 0),
			Port:         get(c, rn.Port, p+".port", dn.Port),
			ASN:          get(c, rn.ASN, p+".asn", dn.ASN),
			PasswordFile: get(c, rn.PasswordFile, p+".password_file", dn.PasswordFile),
			Multihop:     get(c, rn.Multihop, p+".multihop", dn.Multihop),
			Hold:         c.duration(rn.Hold, p+".hold", dn.Hold),
			Keepalive:    c.duration(rn.Keepalive, p+".keepalive", dn.Keepalive),
			Passive:      get(c, rn.Passive, p+".passive", dn.Passive),
		}
		if !rn.Address.set {
			c.add(rn.at, p+".address", "required")
		}
		if !rn.ASN.set {
			c.add(rn.at, p+".asn", "required, %s", asnRange)
		}
		b.Neighbors = append(b.Neighbors, nb)
	}
	return b
}

// ValidateBGP checks a speaker's settings built by hand against the rules
// Parse applies to a node's bgp block and anycast list, so a speaker
// refuses exactly what site validation refuses. Field paths are relative
// to the node ("bgp.neighbors[0].asn", "anycast[1]"). It returns nil or a
// *ValidationError.
func ValidateBGP(b *BGP, anycast []netip.Prefix) error {
	return collect(func(add addFunc) { speakerRules(b, anycast, add) })
}

const asnRange = "1-4294967294 except 23456 and 65535"

// speakerRules are the rules of a node's speaker: its bgp block and the
// anycast prefixes it announces. Paths are relative to the node.
func speakerRules(b *BGP, anycast []netip.Prefix, add addFunc) {
	at := under(add, "bgp")
	asnRule(at, "asn", b.ASN)
	switch {
	case !b.RouterID.IsValid():
		at("router_id", "required, an IPv4 address")
	case !b.RouterID.Is4():
		at("router_id", "%q is not an IPv4 address", b.RouterID)
	}
	intRule(at, "listen_port", b.ListenPort, 0, 65535)
	intRule(at, "prepend", b.Prepend, 0, 16)
	durRule(at, "graceful_shutdown", b.GracefulShutdown, 0)
	durRule(at, "min_announce_interval", b.MinAnnounceInterval, 0)
	durRule(at, "connect_retry", b.ConnectRetry, minConnectRetry)
	for i, s := range b.Communities {
		if !validCommunity(s, 2, 0xffff) {
			at(fmt.Sprintf("communities[%d]", i), "%q: want ASN:VALUE, each 0-65535", s)
		}
	}
	for i, s := range b.LargeCommunities {
		if !validCommunity(s, 3, 0xffffffff) {
			at(fmt.Sprintf("large_communities[%d]", i), "%q: want GLOBAL:LOCAL1:LOCAL2, each 0-4294967295", s)
		}
	}
	healthRules(&b.Check, under(at, "check"))

	if len(b.Neighbors) == 0 {
		at("neighbors", "at least one neighbor is required")
	}
	seen := map[netip.Addr]int{}
	var v4, v6 bool // a session of the family exists
	for i := range b.Neighbors {
		nb := &b.Neighbors[i]
		p := fmt.Sprintf("neighbors[%d]", i)
		// GoBGP reads an IPv4-mapped address as the IPv4 one.
		a := nb.Address.Unmap()
		if !a.IsValid() {
			at(p+".address", "required")
		} else if j, dup := seen[a]; dup {
			at(p+".address", "%s is listed twice (also neighbors[%d])", a, j)
		} else {
			seen[a] = i
			v4, v6 = v4 || a.Is4(), v6 || a.Is6()
		}
		asnRule(at, p+".asn", nb.ASN)
		intRule(at, p+".port", nb.Port, 1, 65535)
		intRule(at, p+".multihop", nb.Multihop, 0, 255)
		// RFC 4271 allows a hold time of 0 (no keepalives), but GoBGP reads
		// 0 as its 90s default; a hold time under 3s is not allowed at all.
		// Keepalives must come more often than the hold time.
		if h := nb.Hold.D(); h < 3*time.Second {
			at(p+".hold", "%s: want at least 3s", h)
		}
		if nb.Keepalive < 0 {
			durRule(at, p+".keepalive", nb.Keepalive, 0)
		} else if nb.Keepalive >= nb.Hold {
			at(p+".keepalive", "%s must be shorter than hold %s", nb.Keepalive.D(), nb.Hold.D())
		}
	}

	if len(anycast) == 0 {
		add("bgp", "a BGP speaker needs the node's anycast prefixes")
	}
	for i, p := range anycast {
		field := fmt.Sprintf("anycast[%d]", i)
		switch {
		case !p.IsValid():
			add(field, "not a prefix")
		case p.Addr().Is4In6():
			add(field, "%s: IPv4-mapped IPv6 prefix; write it as IPv4", p)
		case p.Addr().Zone() != "":
			add(field, "%s: an address zone is not allowed in a prefix", p)
		case p.Masked() != p:
			add(field, "%s has host bits set (the network is %s)", p, p.Masked())
		case len(seen) == 0: // no usable neighbor, reported above
		case p.Addr().Is4() && !v4:
			add(field, "%s is IPv4 but every bgp neighbor is IPv6: the speaker sends IPv4 routes only over IPv4 sessions, so it would never be announced", p)
		case p.Addr().Is6() && !v6:
			add(field, "%s is IPv6 but every bgp neighbor is IPv4: the speaker sends IPv6 routes only over IPv6 sessions, so it would never be announced", p)
		}
	}
}

// asnRule refuses ASN 0 and the reserved ones a speaker cannot use.
func asnRule(add addFunc, field string, asn uint32) {
	switch asn {
	case 0:
		add(field, "0: want %s", asnRange)
	case 23456: // AS_TRANS (RFC 6793) only stands in for a 4-byte ASN
		add(field, "23456 is AS_TRANS, reserved; want %s", asnRange)
	case 65535, 4294967295: // RFC 7300 last ASNs
		add(field, "%d is reserved; want %s", asn, asnRange)
	}
}

func validCommunity(s string, parts int, max uint64) bool {
	f := strings.Split(s, ":")
	if len(f) != parts {
		return false
	}
	for _, x := range f {
		if v, err := strconv.ParseUint(x, 10, 64); err != nil || v > max {
			return false
		}
	}
	return true
}
