package meridian

import (
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// answer fills a with the answer for a name of the site (o nil: a name
// that does not exist) and returns the metric rule and the ECS scope.
func (m *Meridian) answer(v *view, o *owned, qtype uint16, c querier, a *dns.Msg, server string) (rule, int) {
	if o == nil {
		a.Rcode = dns.RcodeNameError
		a.Ns = v.soa
		return ruleNXDomain, 0
	}
	return m.answerName(v, o, qtype, c, a, server, 0)
}

// answerName answers a name that exists; depth counts the CNAMEs followed.
func (m *Meridian) answerName(v *view, o *owned, qtype uint16, c querier, a *dns.Msg, server string, depth int) (rule, int) {
	if o.apex {
		switch qtype {
		case dns.TypeSOA:
			a.Answer = v.soa
			return ruleApex, 0
		case dns.TypeNS:
			a.Answer, a.Extra = v.ns, v.nsGlue
			return ruleApex, 0
		}
	}
	if cname := o.static[dns.TypeCNAME]; cname != nil && qtype != dns.TypeCNAME {
		return ruleStatic, m.alias(v, cname, qtype, c, a, server, depth)
	}
	r, scope := ruleNoData, 0
	switch o.kind {
	case kindSupport:
		a.Answer, r = addrs(o, qtype), ruleSupport
	case kindNode:
		a.Answer, r = addrs(o, qtype), ruleNode
	case kindSRV:
		if qtype == dns.TypeSRV || qtype == dns.TypeANY {
			a.Answer, a.Extra, r = o.srv, o.glue, ruleSRV
		}
	case kindTraffic:
		if qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY {
			r, scope = m.traffic(v, qtype, c, a, server)
		}
	case kindExplain:
		if qtype == dns.TypeTXT || qtype == dns.TypeANY {
			r, scope = ruleExplain, m.explain(v, c, a)
		}
	}
	if o.static != nil {
		n := len(a.Answer)
		staticAnswer(o, qtype, a)
		if n == 0 && len(a.Answer) > 0 {
			r = ruleStatic
		}
	}
	if len(a.Answer) == 0 {
		a.Ns = v.soa
		if o.kind != kindTraffic {
			r = ruleNoData // a traffic NODATA keeps the engine's rule
		}
	}
	return r, scope
}

// addrs returns a name's A or AAAA records (both for ANY).
func addrs(o *owned, qtype uint16) []dns.RR {
	switch qtype {
	case dns.TypeA:
		return o.a
	case dns.TypeAAAA:
		return o.aaaa
	case dns.TypeANY:
		return append(append([]dns.RR(nil), o.a...), o.aaaa...)
	}
	return nil
}

// query returns the engine query of a client.
func (c querier) query(now time.Time) cluster.Query {
	return cluster.Query{Client: c.addr, SourceBits: c.bits, Now: now}
}

// traffic answers the traffic hostname with the engine's choice.
func (m *Meridian) traffic(v *view, qtype uint16, c querier, a *dns.Msg, server string) (rule, int) {
	d := m.decs.Get().(*cluster.Decision)
	defer m.decs.Put(d)
	v.eng.Select(c.query(time.Now()), d)
	if d.Pool == cluster.PoolFailOpen {
		failOpenCount.WithLabelValues(server).Inc()
	}
	if d.Anycast {
		switch qtype {
		case dns.TypeA:
			a.Answer = v.anycastA
		case dns.TypeAAAA:
			a.Answer = v.anycastAAAA
		default:
			a.Answer = append(append([]dns.RR(nil), v.anycastA...), v.anycastAAAA...)
		}
		return engineRule(d.Rule), d.Scope
	}
	chosen := d.Chosen()
	for i, n := range chosen {
		rrs := v.nodes[n]
		if rrs == nil {
			// Not a node of this snapshot (cannot happen with the view's
			// own engine): build its records rather than drop it.
			s := v.site
			rrs = newNodeRRs(s.TrafficHostname, s.TTL.Traffic, n)
		}
		if len(chosen) == 1 && qtype != dns.TypeANY {
			// The common answer: one shared record slice, no allocation.
			if qtype == dns.TypeA {
				a.Answer = rrs.a
			} else {
				a.Answer = rrs.aaaa
			}
		} else {
			if i == 0 {
				a.Answer = make([]dns.RR, 0, 2*len(chosen))
			}
			if qtype != dns.TypeAAAA {
				a.Answer = append(a.Answer, rrs.a...)
			}
			if qtype != dns.TypeA {
				a.Answer = append(a.Answer, rrs.aaaa...)
			}
		}
		m.countAnswer(server, rrs, n.Name)
	}
	return engineRule(d.Rule), d.Scope
}

// maxTXT is the longest character-string of a TXT record.
const maxTXT = 255

// explain answers the explain name with the trace of the decision the
// traffic hostname gets for this client, one line per string, and returns
// its scope: the trace shows the source network's hashing key and the
// decision, so it holds for the longest of the source prefix, the key and
// the decision's scope (0 for a source of 0 bits, as the decision).
func (m *Meridian) explain(v *view, c querier, a *dns.Msg) int {
	d := m.decs.Get().(*cluster.Decision)
	defer m.decs.Put(d)
	v.eng.Select(c.query(time.Now()), d)
	scope := 0
	if c.bits > 0 {
		key := d.Key.Bits()
		if c.addr.Is4In6() && key > 0 {
			key += 96 // the engine keys the unmapped IPv4 address
		}
		scope = max(c.bits, d.Scope, key)
	}
	var txt []string
	for _, line := range d.Explain() {
		for len(line) > maxTXT {
			txt = append(txt, line[:maxTXT])
			line = line[maxTXT:]
		}
		txt = append(txt, line)
	}
	s := v.site
	a.Answer = []dns.RR{&dns.TXT{Hdr: hdr(explainPrefix+s.TrafficHostname, dns.TypeTXT, 0), Txt: txt}}
	return scope
}
