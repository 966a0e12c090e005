// Package meridian is a CoreDNS plugin that answers a Meridian site's names
// (the support hostname, the traffic hostname, the nodes' canonical names,
// the relay SRV names) from the newest signed snapshot of the site's
// director, choosing the traffic node per client with the selection engine.
package meridian

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// Meridian is the plugin handler.
type Meridian struct {
	Next plugin.Handler

	cfg      Config
	zones    []string // lower-case FQDNs
	fall     fall.F
	view     atomic.Pointer[view]
	decs     sync.Pool // *cluster.Decision, so that a query allocates none
	counters atomic.Pointer[counters]
	wire     *wireCache // packed answers; nil answers every query by packing
	run      runner
}

// New returns a handler for cfg. It answers SERVFAIL for the site's names
// until OnStartup has brought a snapshot.
func New(cfg Config) *Meridian {
	m := &Meridian{cfg: cfg, fall: cfg.Fall}
	for _, z := range cfg.Zones {
		m.zones = append(m.zones, strings.ToLower(dns.Fqdn(z)))
	}
	m.decs.New = func() any { return new(cluster.Decision) }
	m.wire = newWireCache()
	return m
}

// Name implements plugin.Handler.
func (m *Meridian) Name() string { return pluginName }

// ServeDNS implements plugin.Handler.
func (m *Meridian) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	qname, qtype := strings.ToLower(r.Question[0].Name), r.Question[0].Qtype
	in := m.inZones(qname)
	// A malformed ECS option is FORMERR whatever the name: the plugin
	// checks it before any name goes to the next plugin (RFC 7871 section
	// 7.1.1), so that every name of the server block gets the same answer.
	c, err := clientOf(r, sourceAddr(w))
	if err != nil {
		var e ednsError
		errors.As(err, &e)
		server := metrics.WithServer(ctx)
		malformedCount.WithLabelValues(server, string(e)).Inc()
		if in {
			m.countRequest(server, qtype, ruleMalformed)
		}
		return m.formErr(w, r)
	}
	if !in {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	server := metrics.WithServer(ctx)
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		// The site's names come from a snapshot, not a zone to copy, and
		// the next plugin holds only part of the zone.
		return m.refuseTransfer(w, r, c, server, qtype)
	}
	v := m.view.Load()
	if v == nil {
		// No snapshot yet (director away, no cache): the names may exist,
		// so neither deny them nor let another plugin answer for them.
		m.countRequest(server, qtype, ruleNoSnapshot)
		return dns.RcodeServerFailure, nil
	}
	o, ours := v.lookup(qname)
	if !ours && m.fall.Through(qname) {
		return plugin.NextOrFailure(m.Name(), m.Next, ctx, w, r)
	}
	if m.serveWire(w, r, v, o, qname, qtype, c, server) {
		return dns.RcodeSuccess, nil
	}
	a := reply(r)
	rule, scope := m.answer(v, o, qtype, c, a, server)
	m.countRequest(server, qtype, rule)
	addOPT(r, a, c, scope)
	w.WriteMsg(a)
	return dns.RcodeSuccess, nil
}

// refuseTransfer answers a zone transfer (AXFR, IXFR) REFUSED, with EDNS
// when the query had it.
func (m *Meridian) refuseTransfer(w dns.ResponseWriter, r *dns.Msg, c querier, server string, qtype uint16) (int, error) {
	transferRefusedCount.WithLabelValues(server, dns.TypeToString[qtype]).Inc()
	a := new(dns.Msg)
	a.SetRcode(r, dns.RcodeRefused)
	addOPT(r, a, c, 0)
	w.WriteMsg(a)
	return dns.RcodeSuccess, nil
}

// Ready implements CoreDNS's ready.Readiness: the plugin is ready once it
// holds a verified snapshot (from the director or the cache), so that a
// server is not put in rotation while it would answer SERVFAIL. A server
// whose key the director refuses is not ready while it holds no snapshot;
// with one from the cache it serves that and stays ready (the refusal is
// in its log and coredns_meridian_key_refused).
func (m *Meridian) Ready() bool { return m.view.Load() != nil }

// reply starts an authoritative answer to r. It shares r's question
// slice (dns.Msg.SetReply copies it): neither is written afterwards.
func reply(r *dns.Msg) *dns.Msg {
	a := &dns.Msg{Question: r.Question}
	a.Id, a.Response, a.Opcode, a.Authoritative = r.Id, true, r.Opcode, true
	if r.Opcode == dns.OpcodeQuery {
		a.RecursionDesired, a.CheckingDisabled = r.RecursionDesired, r.CheckingDisabled
	}
	return a
}

// inZones reports whether qname is in the plugin's zones.
func (m *Meridian) inZones(qname string) bool {
	for _, z := range m.zones {
		if inZone(qname, z) {
			return true
		}
	}
	return false
}

// formErr answers a malformed query. The reply is written here, not by the
// server, so that it keeps an OPT record (RFC 7871 section 7.1.1).
func (m *Meridian) formErr(w dns.ResponseWriter, r *dns.Msg) (int, error) {
	a := new(dns.Msg)
	a.SetRcode(r, dns.RcodeFormatError)
	if o := r.IsEdns0(); o != nil {
		a.Extra = append(a.Extra, replyOPT(o, nil))
	}
	w.WriteMsg(a)
	return dns.RcodeSuccess, nil
}

// replyOPT turns the query's OPT record into the answer's, as CoreDNS's
// request.SizeAndDo does: version 0, the query's buffer size (the server
// truncates the answer to it), the DO bit kept, and only the ECS option
// (when ecs is not nil). The query's other options are not read after this.
func replyOPT(o *dns.OPT, ecs *dns.EDNS0_SUBNET) *dns.OPT {
	do, size := o.Do(), o.UDPSize()
	o.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}
	o.SetUDPSize(size)
	if do {
		o.SetDo()
	}
	o.Option = o.Option[:0]
	if ecs != nil {
		o.Option = append(o.Option, ecs)
	}
	return o
}

// addOPT answers EDNS with EDNS: an OPT record, with the ECS option echoed
// and its scope set when the query had one (RFC 7871 section 7.2.1).
func addOPT(r, a *dns.Msg, c querier, scope int) {
	o := r.IsEdns0()
	if o == nil {
		return
	}
	var ecs *dns.EDNS0_SUBNET
	if c.ecs != nil {
		ecs = c.echoECS(scope)
	}
	o = replyOPT(o, ecs)
	if len(a.Extra) == 0 && len(r.Extra) == 1 && r.Extra[0] == o {
		// The query's additional section is just this OPT: share it.
		a.Extra = r.Extra
		return
	}
	a.Extra = append(a.Extra, o)
}

// sourceAddr returns the query's source address without a string round trip.
func sourceAddr(w dns.ResponseWriter) netip.Addr {
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	if a := w.RemoteAddr(); a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.IPv4Unspecified()
}
