package meridian

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// maxAlias bounds the CNAME chain followed inside the zone.
const maxAlias = 8

// staticRR builds the record of one of the site's static records; nil for
// data the validated site cannot hold.
func staticRR(r cluster.Record) dns.RR {
	h := hdr(r.Name, dns.StringToType[r.Type], r.TTL)
	f := strings.Fields(r.Value)
	u16 := func(s string) uint16 {
		n, _ := strconv.ParseUint(s, 10, 16)
		return uint16(n)
	}
	switch r.Type {
	case cluster.RecordA, cluster.RecordAAAA:
		a, err := netip.ParseAddr(r.Value)
		if err != nil {
			return nil
		}
		if r.Type == cluster.RecordA {
			return &dns.A{Hdr: h, A: a.AsSlice()}
		}
		return &dns.AAAA{Hdr: h, AAAA: a.AsSlice()}
	case cluster.RecordCNAME:
		if len(f) != 1 {
			return nil
		}
		return &dns.CNAME{Hdr: h, Target: dns.Fqdn(f[0])}
	case cluster.RecordMX:
		if len(f) != 2 {
			return nil
		}
		return &dns.MX{Hdr: h, Preference: u16(f[0]), Mx: dns.Fqdn(f[1])}
	case cluster.RecordSRV:
		if len(f) != 4 {
			return nil
		}
		return &dns.SRV{Hdr: h, Priority: u16(f[0]), Weight: u16(f[1]), Port: u16(f[2]), Target: dns.Fqdn(f[3])}
	case cluster.RecordTXT:
		return &dns.TXT{Hdr: h, Txt: txtStrings(r.Value)}
	case cluster.RecordCAA:
		if len(f) < 3 {
			return nil
		}
		flag, _ := strconv.ParseUint(f[0], 10, 8)
		v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(r.Value, f[0])), f[1]))
		return &dns.CAA{Hdr: h, Flag: uint8(flag), Tag: f[1], Value: v}
	}
	return nil
}

// txtStrings splits a text into character-strings of at most 255 bytes,
// escaped as miekg/dns reads them when it packs the record.
func txtStrings(s string) []string {
	var out []string
	for {
		n := min(len(s), maxTXT)
		chunk := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s[:n])
		out = append(out, chunk)
		s = s[n:]
		if s == "" {
			return out
		}
	}
}

// hostAddrs returns a name's A or AAAA records (both for ANY): the
// addresses the plugin computes, or the static ones.
func hostAddrs(o *owned, qtype uint16) []dns.RR {
	if rrs := addrs(o, qtype); len(rrs) > 0 {
		return rrs
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		return o.static[qtype]
	case dns.TypeANY:
		return append(append([]dns.RR(nil), o.static[dns.TypeA]...), o.static[dns.TypeAAAA]...)
	}
	return nil
}

// staticAnswer adds a name's static records of qtype (all for ANY) to a.
func staticAnswer(o *owned, qtype uint16, a *dns.Msg) {
	if qtype != dns.TypeANY {
		if len(a.Answer) == 0 {
			a.Answer = o.static[qtype]
		}
		return
	}
	all := append([]dns.RR(nil), a.Answer...)
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeSRV, dns.TypeTXT, dns.TypeCAA} {
		all = append(all, o.static[t]...)
	}
	a.Answer = all
}

// alias answers a name whose static record is a CNAME: the CNAME, and the
// target's answer while the target is a name of the zone (RFC 1034
// section 4.3.2), so that a resolver need not ask again.
func (m *Meridian) alias(v *view, cname []dns.RR, qtype uint16, c querier, a *dns.Msg, server string, depth int) int {
	a.Answer = append(a.Answer, cname...)
	o := v.names[strings.ToLower(cname[0].(*dns.CNAME).Target)]
	if o == nil || depth >= maxAlias {
		return 0
	}
	var t dns.Msg
	_, scope := m.answerName(v, o, qtype, c, &t, server, depth+1)
	a.Answer = append(a.Answer, t.Answer...)
	a.Extra = append(a.Extra, t.Extra...)
	if len(t.Answer) == 0 || t.Answer[len(t.Answer)-1].Header().Rrtype == dns.TypeCNAME && depth+1 >= maxAlias {
		a.Ns = t.Ns // the target's NODATA: the zone's SOA
	}
	return scope
}
