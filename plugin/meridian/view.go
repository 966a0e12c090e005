package meridian

import (
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// kind is what an owned name answers.
type kind uint8

const (
	kindEmpty   kind = iota // exists, holds nothing (an empty non-terminal)
	kindSupport             // the support hostname: the master's addresses
	kindTraffic             // the traffic hostname: the engine's choice
	kindNode                // a node's canonical hostname: its own addresses
	kindSRV                 // a relay SRV name
	kindExplain             // the explain TXT name
	kindStatic              // a name of the site's static records only
)

// owned is one name of the site and its prebuilt records. Records are
// shared by every answer and never changed after the view is built (packing
// a message does not write to its records).
type owned struct {
	kind kind
	apex bool     // also answers SOA and NS
	a    []dns.RR // kindSupport, kindNode
	aaaa []dns.RR
	srv  []dns.RR // kindSRV: answers, and the targets' addresses as glue
	glue []dns.RR
	// static are the site's static records of the name, by type (any
	// kind: the support hostname and node names may hold types other than
	// their addresses). A CNAME is alone at its name.
	static map[uint16][]dns.RR
}

// nodeRRs are a node's records under the traffic hostname, each a slice of
// one record (none without such an address), and its answer counter.
type nodeRRs struct {
	a, aaaa []dns.RR
	answers atomic.Pointer[counterRef]
}

func newNodeRRs(traffic string, ttl uint32, n *cluster.Node) *nodeRRs {
	a, aaaa := addrRRs(traffic, ttl, n.IPv4, n.IPv6)
	return &nodeRRs{a: a, aaaa: aaaa}
}

// view is everything the query path reads for one snapshot. A new view is
// built per snapshot and published through an atomic pointer, so queries
// take no lock.
type view struct {
	snap    *cluster.Snapshot
	eng     *cluster.Engine
	site    *cluster.Site
	names   map[string]*owned
	zone    string // the site's zone; every name in it is the site's
	traffic string // the traffic hostname
	soa     []dns.RR
	ns      []dns.RR
	nsGlue  []dns.RR // addresses of the in-zone name servers
	// Traffic answers: per chosen node, and the anycast addresses.
	nodes       map[*cluster.Node]*nodeRRs
	anycastA    []dns.RR
	anycastAAAA []dns.RR
}

// SRV names under the traffic hostname, with the relay port each one uses.
var srvNames = []struct {
	prefix string
	port   func(cluster.Relay) int
}{
	{"_turn._udp.", func(r cluster.Relay) int { return r.UDPPort }},
	{"_turn._tcp.", func(r cluster.Relay) int { return r.TCPPort }},
	{"_turns._tcp.", func(r cluster.Relay) int { return r.TLSPort }},
}

// explainPrefix is the label of the explain name under the traffic hostname.
const explainPrefix = "_explain."

// newView builds the records of a snapshot.
func newView(snap *cluster.Snapshot, eng *cluster.Engine, explain bool) *view {
	s := snap.Config
	v := &view{
		snap:    snap,
		eng:     eng,
		site:    s,
		names:   make(map[string]*owned),
		zone:    strings.ToLower(s.Zone),
		traffic: strings.ToLower(s.TrafficHostname),
		nodes:   make(map[*cluster.Node]*nodeRRs, len(s.Nodes)),
	}
	zone := v.zone
	v.soa = []dns.RR{soaRR(snap)}
	for _, n := range s.NS {
		v.ns = append(v.ns, &dns.NS{Hdr: hdr(zone, dns.TypeNS, s.TTL.Node), Ns: dns.Fqdn(n)})
	}

	support := v.name(strings.ToLower(s.SupportHostname), kindSupport)
	if m, _ := eng.SupportMaster(); m != nil {
		support.a, support.aaaa = addrRRs(s.SupportHostname, s.TTL.Support, m.IPv4, m.IPv6)
	}
	v.name(v.traffic, kindTraffic)
	for i := range s.Nodes {
		n := &s.Nodes[i]
		o := v.name(strings.ToLower(n.Hostname), kindNode)
		o.a, o.aaaa = addrRRs(n.Hostname, s.TTL.Node, n.IPv4, n.IPv6)
		v.nodes[n] = newNodeRRs(s.TrafficHostname, s.TTL.Traffic, n)
	}
	// Only the anycast addresses some node announces: an AAAA query while
	// only the IPv4 prefix is announced gets NODATA, not a dead address.
	any4, any6 := eng.Anycast()
	v.anycastA, v.anycastAAAA = addrRRs(s.TrafficHostname, s.TTL.Traffic, any4, any6)

	targets := eng.SRV()
	for _, sn := range srvNames {
		o := v.name(sn.prefix+v.traffic, kindSRV)
		for _, t := range targets {
			port := sn.port(t.Node.Relay)
			if port == 0 {
				continue
			}
			o.srv = append(o.srv, &dns.SRV{
				Hdr:      hdr(sn.prefix+s.TrafficHostname, dns.TypeSRV, s.TTL.SRV),
				Priority: t.Priority, Weight: t.Weight, Port: uint16(port),
				Target: t.Node.Hostname,
			})
			a, aaaa := addrRRs(t.Node.Hostname, s.TTL.Node, t.Node.IPv4, t.Node.IPv6)
			o.glue = append(append(o.glue, a...), aaaa...)
		}
	}
	if explain {
		v.name(explainPrefix+v.traffic, kindExplain)
	}
	// Static records last: the validated site puts none at a name the
	// plugin computes, except other types at the support and node names.
	for _, r := range s.Records {
		rr := staticRR(r)
		if rr == nil {
			continue
		}
		o := v.name(strings.ToLower(r.Name), kindStatic)
		if o.static == nil {
			o.static = make(map[uint16][]dns.RR)
		}
		t := rr.Header().Rrtype
		o.static[t] = append(o.static[t], rr)
	}
	// Answers share these slices and append to them (the OPT record to the
	// glue): with no spare capacity an append copies, never writes here.
	for _, o := range v.names {
		o.srv, o.glue = slices.Clip(o.srv), slices.Clip(o.glue)
		for t, rrs := range o.static {
			o.static[t] = slices.Clip(rrs)
		}
	}
	// The apex always exists: it holds the SOA and NS.
	v.name(zone, kindEmpty).apex = true
	for _, n := range v.ns {
		if o := v.names[strings.ToLower(n.(*dns.NS).Ns)]; o != nil {
			v.nsGlue = append(v.nsGlue, hostAddrs(o, dns.TypeANY)...)
		}
	}
	v.nsGlue = slices.Clip(v.nsGlue)
	v.emptyNonTerminals(zone)
	return v
}

// name adds an owned name (the first kind given for a name wins: the
// validated site does not reuse names).
func (v *view) name(n string, k kind) *owned {
	if o := v.names[n]; o != nil {
		return o
	}
	o := &owned{kind: k}
	v.names[n] = o
	return o
}

// emptyNonTerminals adds the names between the owned names and the zone
// apex (such as _udp.<traffic hostname>): they exist without records, so
// they answer NODATA, never NXDOMAIN, which would deny the names below them
// (RFC 8020).
func (v *view) emptyNonTerminals(zone string) {
	var add []string
	for n := range v.names {
		if !dns.IsSubDomain(zone, n) {
			continue
		}
		for p := parent(n); p != "" && p != zone && dns.IsSubDomain(zone, p); p = parent(p) {
			add = append(add, p)
		}
	}
	for _, p := range add {
		v.name(p, kindEmpty)
	}
}

// parent returns name without its first label, "" for the root.
func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	return name[i:]
}

// lookup returns the name of the site, or nil; ours reports whether the
// name is in the site's zone, where every name is the site's and a missing
// one is NXDOMAIN.
func (v *view) lookup(qname string) (o *owned, ours bool) {
	if o := v.names[qname]; o != nil {
		return o, true
	}
	return nil, inZone(qname, v.zone)
}

// inZone reports whether name is zone or below it; both are lower-case
// FQDNs. It is dns.IsSubDomain without the label walk.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	i := len(name) - len(zone)
	return i == 0 || name[i-1] == '.' && (i < 2 || name[i-2] != '\\')
}

// soaRR is the zone's one SOA: apex answers and every negative answer
// carry it.
func soaRR(snap *cluster.Snapshot) dns.RR {
	s := snap.Config
	// The serial follows the configuration: the zone's data (static
	// records, SOA, NS, names) changes with it, while health changes only
	// move answers the short TTLs cover.
	return &dns.SOA{
		Hdr:     hdr(s.Zone, dns.TypeSOA, s.TTL.Negative),
		Ns:      dns.Fqdn(s.SOA.MName),
		Mbox:    dns.Fqdn(s.SOA.RName),
		Serial:  uint32(snap.ConfigVersion),
		Refresh: s.SOA.Refresh,
		Retry:   s.SOA.Retry,
		Expire:  s.SOA.Expire,
		Minttl:  s.TTL.Negative,
	}
}

func hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// addrRRs returns the A and AAAA records of name for the valid addresses.
func addrRRs(name string, ttl uint32, v4, v6 netip.Addr) (a, aaaa []dns.RR) {
	if v4.Is4() {
		a = []dns.RR{&dns.A{Hdr: hdr(name, dns.TypeA, ttl), A: v4.AsSlice()}}
	}
	if v6.Is6() && !v6.Is4In6() {
		aaaa = []dns.RR{&dns.AAAA{Hdr: hdr(name, dns.TypeAAAA, ttl), AAAA: v6.AsSlice()}}
	}
	return a, aaaa
}
