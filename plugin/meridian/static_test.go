package meridian

import (
	"fmt"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// staticCases are the answers of the zone's static records and of every
// kind of name, with the SOA and NS of the given serial: one zone, one
// SOA, one NS set, whatever plugin part answers.
func staticCases(serial uint32) []answerCase {
	soa := test.SOA(fmt.Sprintf("support.example.com. 30 IN SOA ns1.support.example.com. hostmaster.support.example.com. %d 3600 600 86400 30", serial))
	neg := []dns.RR{soa}
	return []answerCase{
		// Apex: SOA, NS with the name servers' addresses, static types
		// beside the support hostname's addresses.
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeNS, Answer: siteNS, Extra: nsGlue}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeMX, Answer: []dns.RR{test.MX("support.example.com. 300 IN MX 10 mail.example.net.")}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeTXT, Answer: []dns.RR{test.TXT(`support.example.com. 300 IN TXT "v=spf1 -all"`)}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("support.example.com. 30 IN A 192.0.2.10")}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeCAA, Ns: neg}},

		// Static names.
		{Case: test.Case{Qname: "ns1.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns1.support.example.com. 300 IN A 192.0.2.53")}}},
		{Case: test.Case{Qname: "NS2.support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("ns2.support.example.com. 300 IN AAAA 2001:db8:1::53")}}},
		{Case: test.Case{Qname: "www.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("www.support.example.com. 300 IN A 192.0.2.80")}}},
		{Case: test.Case{Qname: "_dmarc.support.example.com.", Qtype: dns.TypeTXT, Answer: []dns.RR{test.TXT(`_dmarc.support.example.com. 300 IN TXT "v=DMARC1; p=reject"`)}}},
		{Case: test.Case{Qname: "status.support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.CNAME("status.support.example.com. 300 IN CNAME www.support.example.com."),
			test.AAAA("www.support.example.com. 300 IN AAAA 2001:db8::80"),
		}}},
		{Case: test.Case{Qname: "status.support.example.com.", Qtype: dns.TypeCNAME, Answer: []dns.RR{
			test.CNAME("status.support.example.com. 300 IN CNAME www.support.example.com."),
		}}},
		{Case: test.Case{Qname: "status.support.example.com.", Qtype: dns.TypeMX, Answer: []dns.RR{
			test.CNAME("status.support.example.com. 300 IN CNAME www.support.example.com."),
		}, Ns: neg}},

		// Owned names keep their answers.
		{from: "10.2.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("traffic.support.example.com. 20 IN A 198.51.100.11")}}},
		{Case: test.Case{Qname: "us1.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("us1.support.example.com. 300 IN A 192.0.2.11")}}},

		// Negative answers, all with the one SOA.
		{Case: test.Case{Qname: "www.support.example.com.", Qtype: dns.TypeMX, Ns: neg}},
		{Case: test.Case{Qname: "ns1.support.example.com.", Qtype: dns.TypeTXT, Ns: neg}},
		{Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeTXT, Ns: neg}},
		{Case: test.Case{Qname: "eu2.support.example.com.", Qtype: dns.TypeAAAA, Ns: neg}},
		{Case: test.Case{Qname: "nope.support.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: neg}},
		{Case: test.Case{Qname: "a.b.www.support.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: neg}},
		{Case: test.Case{Qname: "nope.traffic.support.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: neg}},
	}
}

func TestStaticRecords(t *testing.T) {
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	m := testPlugin(t, snap, false)
	m.Next = test.ErrorHandler()
	runCases(t, m, staticCases(3))
}

// TestSerialFollowsConfig: a new configuration version moves the serial
// of every answer that carries the SOA, apex and negative alike.
func TestSerialFollowsConfig(t *testing.T) {
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	m := testPlugin(t, snap, false)
	m.Next = test.ErrorHandler()
	runCases(t, m, staticCases(3))

	next := *snap
	next.Version, next.ConfigVersion = snap.Version+1, snap.ConfigVersion+1
	m.install(&next)
	runCases(t, m, staticCases(4))
}

func TestStaticANY(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	r := query(t, m, "support.example.com.", dns.TypeANY, "", nil)
	types := map[uint16]int{}
	for _, rr := range r.Answer {
		types[rr.Header().Rrtype]++
	}
	if types[dns.TypeA] != 1 || types[dns.TypeAAAA] != 1 || types[dns.TypeMX] != 1 || types[dns.TypeTXT] != 1 {
		t.Errorf("ANY at the apex: %v", r.Answer)
	}
}

func TestStaticRR(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	for _, tt := range []struct {
		rec  cluster.Record
		want string
	}{
		{cluster.Record{Name: "x.z.", Type: "TXT", TTL: 5, Value: `a "quoted" \ text`}, `x.z.	5	IN	TXT	"a \"quoted\" \\ text"`},
		{cluster.Record{Name: "x.z.", Type: "TXT", TTL: 5, Value: string(long)}, `x.z.	5	IN	TXT	"` + string(long[:255]) + `" "` + string(long[255:]) + `"`},
		{cluster.Record{Name: "x.z.", Type: "SRV", TTL: 5, Value: "10 5 5060 sip.z."}, "x.z.	5	IN	SRV	10 5 5060 sip.z."},
		{cluster.Record{Name: "x.z.", Type: "CAA", TTL: 5, Value: "0 issue letsencrypt.org"}, `x.z.	5	IN	CAA	0 issue "letsencrypt.org"`},
	} {
		rr := staticRR(tt.rec)
		if rr == nil || rr.String() != tt.want {
			t.Errorf("%v: %v, want %s", tt.rec, rr, tt.want)
			continue
		}
		// The record survives the wire as written.
		buf := make([]byte, 1024)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := dns.UnpackRR(buf[:off], 0)
		if err != nil || back.String() != tt.want {
			t.Errorf("%v: after the wire %v (%v)", tt.rec, back, err)
		}
	}
}
