package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (c *checker) bgp(r *rawBGP, path string, n *Node) BGP {
	b := BGP{
		ASN:                 get(c, r.ASN, path+".asn", 0),
		RouterID:            c.addr(r.RouterID, path+".router_id", 4),
		ListenAddr:          c.addr(r.ListenAddr, path+".listen_addr", 0),
		ListenPort:          c.intIn(r.ListenPort, path+".listen_port", 0, 0, 65535),
		Prepend:             c.intIn(r.Prepend, path+".prepend", 0, 0, 16),
		MED:                 get(c, r.MED, path+".med", 0),
		GracefulShutdown:    c.duration(r.GracefulShutdown, path+".graceful_shutdown", Duration(5*time.Second), 0),
		MinAnnounceInterval: c.duration(r.MinAnnounceInterval, path+".min_announce_interval", Duration(10*time.Second), 0),
		ConnectRetry:        c.duration(r.ConnectRetry, path+".connect_retry", Duration(5*time.Second), time.Second),
	}
	for i, v := range r.Command {
		b.Command = append(b.Command, get(c, v, fmt.Sprintf("%s.command[%d]", path, i), ""))
	}
	if b.ASN == 0 && r.ASN.err == nil {
		c.add(r.ASN.p, path+".asn", "required, 1-4294967295")
	}
	if !b.RouterID.IsValid() {
		b.RouterID = n.IPv4
		if !b.RouterID.IsValid() && !r.RouterID.set {
			c.add(r.ASN.p, path+".router_id", "required when the node has no ipv4")
		}
	}
	if len(n.Anycast) == 0 {
		c.add(r.ASN.p, path, "a BGP speaker needs the node's anycast prefixes")
	}
	check := defaultHealth
	check.Target = n.Internal
	b.Check = c.health(r.Check, path+".check", check)
	for i, v := range r.Communities {
		p := fmt.Sprintf("%s.communities[%d]", path, i)
		if s := get(c, v, p, ""); v.err == nil && !validCommunity(s, 2, 0xffff) {
			c.add(v.p, p, "%q: want ASN:VALUE, each 0-65535", s)
		} else {
			b.Communities = append(b.Communities, s)
		}
	}
	for i, v := range r.LargeCommunities {
		p := fmt.Sprintf("%s.large_communities[%d]", path, i)
		if s := get(c, v, p, ""); v.err == nil && !validCommunity(s, 3, 0xffffffff) {
			c.add(v.p, p, "%q: want GLOBAL:LOCAL1:LOCAL2, each 0-4294967295", s)
		} else {
			b.LargeCommunities = append(b.LargeCommunities, s)
		}
	}
	if len(r.Neighbors) == 0 {
		c.add(r.ASN.p, path+".neighbors", "at least one neighbor is required")
	}
	for i, rn := range r.Neighbors {
		p := fmt.Sprintf("%s.neighbors[%d]", path, i)
		nb := BGPNeighbor{
			Address:      c.addr(rn.Address, p+".address", 0),
			Port:         c.intIn(rn.Port, p+".port", 179, 1, 65535),
			ASN:          get(c, rn.ASN, p+".asn", 0),
			PasswordFile: get(c, rn.PasswordFile, p+".password_file", ""),
			Multihop:     c.intIn(rn.Multihop, p+".multihop", 0, 0, 255),
			Hold:         c.duration(rn.Hold, p+".hold", Duration(90*time.Second), 0),
			Keepalive:    c.duration(rn.Keepalive, p+".keepalive", Duration(30*time.Second), 0),
			Passive:      get(c, rn.Passive, p+".passive", false),
		}
		if !rn.Address.set {
			c.add(rn.ASN.p, p+".address", "required")
		}
		if nb.ASN == 0 && rn.ASN.err == nil {
			c.add(rn.Address.p, p+".asn", "required, 1-4294967295")
		}
		// RFC 4271 allows a hold time of 0 (no keepalives), but GoBGP reads
		// 0 as its 90s default; a hold time under 3s is not allowed at all.
		// Keepalives must come more often than the hold time.
		if h := nb.Hold.D(); h < 3*time.Second {
			c.add(rn.Hold.p, p+".hold", "%s: want at least 3s", h)
		}
		if nb.Keepalive >= nb.Hold {
			c.add(rn.Keepalive.p, p+".keepalive", "%s must be shorter than hold %s", nb.Keepalive.D(), nb.Hold.D())
		}
		b.Neighbors = append(b.Neighbors, nb)
	}
	return b
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
