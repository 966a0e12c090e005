package meridian

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// soa is the site's SOA as negative answers carry it.
var soa = test.SOA("support.example.com. 30 IN SOA ns1.support.example.com. hostmaster.support.example.com. 3 3600 600 86400 30")

// siteNS is the zone's NS set, nsGlue the name servers' addresses: both
// from the site file (ns, records).
var (
	siteNS = []dns.RR{
		test.NS("support.example.com. 300 IN NS ns1.support.example.com."),
		test.NS("support.example.com. 300 IN NS ns2.support.example.com."),
	}
	nsGlue = []dns.RR{
		test.A("ns1.support.example.com. 300 IN A 192.0.2.53"),
		test.AAAA("ns1.support.example.com. 300 IN AAAA 2001:db8::53"),
		test.A("ns2.support.example.com. 300 IN A 198.51.100.53"),
		test.AAAA("ns2.support.example.com. 300 IN AAAA 2001:db8:1::53"),
	}
)

// srvGlue is the glue of the relay SRV answers of the test site with every
// node up: the three primaries and, as the priority-20 fallback, the
// secondary eu2 (IPv4 only).
var srvGlue = []dns.RR{
	test.A("eu1.support.example.com. 300 IN A 198.51.100.11"),
	test.AAAA("eu1.support.example.com. 300 IN AAAA 2001:db8:1::11"),
	test.A("eu2.support.example.com. 300 IN A 198.51.100.12"),
	test.A("us1.support.example.com. 300 IN A 192.0.2.11"),
	test.AAAA("us1.support.example.com. 300 IN AAAA 2001:db8::11"),
	test.A("us2.support.example.com. 300 IN A 192.0.2.12"),
	test.AAAA("us2.support.example.com. 300 IN AAAA 2001:db8::12"),
}

// answerCase is a test.Case from a source address. Sections are listed in
// the order test.SortAndCheck sorts the answer's (by text).
type answerCase struct {
	test.Case
	from string // query source address; "" is the recorder's 10.240.0.1
}

func TestAnswers(t *testing.T) {
	cases := []answerCase{
		// Support hostname, the zone apex here.
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("support.example.com. 30 IN A 192.0.2.10")}}},
		{Case: test.Case{Qname: "Support.Example.COM.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("support.example.com. 30 IN AAAA 2001:db8::10")}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa}}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeNS, Answer: siteNS, Extra: nsGlue}},
		{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeCAA, Ns: []dns.RR{soa}}},

		// Traffic hostname: prefix overrides, then geo (secondary eu2 is
		// not a candidate while primaries are up).
		{from: "10.1.2.3", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("traffic.support.example.com. 20 IN A 192.0.2.11")}}},
		{from: "10.2.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("traffic.support.example.com. 20 IN A 198.51.100.11")}}},
		{from: "10.2.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("traffic.support.example.com. 20 IN AAAA 2001:db8:1::11")}}},
		{from: "2001:db8:ee00::1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("traffic.support.example.com. 20 IN AAAA 2001:db8:1::11")}}},
		{from: "203.0.113.5", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("traffic.support.example.com. 20 IN A 198.51.100.11")}}},
		{from: "198.18.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("traffic.support.example.com. 20 IN A 192.0.2.12")}}},
		{from: "2001:db8:aa00::1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("traffic.support.example.com. 20 IN AAAA 2001:db8::11")}}},
		{Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa}}},

		// Canonical names: always their own addresses.
		{Case: test.Case{Qname: "us1.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("us1.support.example.com. 300 IN A 192.0.2.11")}}},
		{Case: test.Case{Qname: "eu2.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("eu2.support.example.com. 300 IN A 198.51.100.12")}}},
		{Case: test.Case{Qname: "eu2.support.example.com.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}}},

		// Relay SRV records with glue.
		{Case: test.Case{Qname: "_turn._udp.traffic.support.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("_turn._udp.traffic.support.example.com. 60 IN SRV 10 65535 3478 eu1.support.example.com."),
			test.SRV("_turn._udp.traffic.support.example.com. 60 IN SRV 10 65535 3478 us1.support.example.com."),
			test.SRV("_turn._udp.traffic.support.example.com. 60 IN SRV 10 65535 3478 us2.support.example.com."),
			test.SRV("_turn._udp.traffic.support.example.com. 60 IN SRV 20 32767 3478 eu2.support.example.com."),
		}, Extra: srvGlue}},
		{Case: test.Case{Qname: "_turns._tcp.traffic.support.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("_turns._tcp.traffic.support.example.com. 60 IN SRV 10 65535 5349 eu1.support.example.com."),
			test.SRV("_turns._tcp.traffic.support.example.com. 60 IN SRV 10 65535 5349 us1.support.example.com."),
			test.SRV("_turns._tcp.traffic.support.example.com. 60 IN SRV 10 65535 5349 us2.support.example.com."),
			test.SRV("_turns._tcp.traffic.support.example.com. 60 IN SRV 20 32767 5349 eu2.support.example.com."),
		}, Extra: srvGlue}},
		{Case: test.Case{Qname: "_turn._tcp.traffic.support.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{soa}}},

		// Negative answers.
		{Case: test.Case{Qname: "_udp.traffic.support.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{soa}}},
		{Case: test.Case{Qname: "nope.traffic.support.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}},
		{Case: test.Case{Qname: "_explain.traffic.support.example.com.", Qtype: dns.TypeTXT, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}},
		{Case: test.Case{Qname: "nope.support.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}},
	}
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	m.Next = test.ErrorHandler()
	runCases(t, m, cases)
}

// TestAnswersByState covers the answers that follow health, drain and the
// method: secondary, fail open, DNS swing, anycast.
func TestAnswersByState(t *testing.T) {
	trafficA := func(addr string) []dns.RR {
		return []dns.RR{test.A("traffic.support.example.com. 20 IN A " + addr)}
	}
	tests := []struct {
		name       string
		method     cluster.Method
		health     health
		announcing []string
		cases      []answerCase
	}{
		{"secondary when no primary is up", cluster.MethodGeo, health{"us1": cluster.Down, "us2": cluster.Down, "eu1": cluster.Down}, nil, []answerCase{
			{from: "10.1.2.3", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("198.51.100.12")}},
			{from: "198.18.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("198.51.100.12")}},
			// Only the secondary's relay is offered.
			{Case: test.Case{Qname: "_turn._udp.traffic.support.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
				test.SRV("_turn._udp.traffic.support.example.com. 60 IN SRV 20 65535 3478 eu2.support.example.com."),
			}, Extra: []dns.RR{test.A("eu2.support.example.com. 300 IN A 198.51.100.12")}}},
			// A down node's canonical name still answers.
			{Case: test.Case{Qname: "us1.support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("us1.support.example.com. 300 IN A 192.0.2.11")}}},
		}},
		{"fail open when nothing is up", cluster.MethodGeo, health{"us1": cluster.Down, "us2": cluster.Down, "eu1": cluster.Down, "eu2": cluster.Down}, nil, []answerCase{
			{from: "10.1.2.3", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("192.0.2.11")}},
			{from: "203.0.113.9", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("198.51.100.12")}},
		}},
		{"DNS swing to the backup master", cluster.MethodGeo, health{"master1": cluster.Down}, nil, []answerCase{
			{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("support.example.com. 30 IN A 198.51.100.10")}}},
			{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("support.example.com. 30 IN AAAA 2001:db8:1::10")}}},
		}},
		{"both masters down: fail open to the primary", cluster.MethodGeo, health{"master1": cluster.Down, "master2": cluster.Down}, nil, []answerCase{
			{Case: test.Case{Qname: "support.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("support.example.com. 30 IN A 192.0.2.10")}}},
		}},
		{"anycast while announced", cluster.MethodAnycast, nil, []string{"us2"}, []answerCase{
			{from: "198.18.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("203.0.113.1")}},
			{from: "198.18.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}}},
		}},
		{"anycast not announced: geo", cluster.MethodAnycast, nil, nil, []answerCase{
			{from: "198.18.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("192.0.2.12")}},
		}},
		{"timezone", cluster.MethodTimezone, nil, nil, []answerCase{
			// Paris keeps Berlin's offset all year; London is secondary.
			{from: "203.0.113.5", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("198.51.100.11")}},
			{from: "10.1.0.1", Case: test.Case{Qname: "traffic.support.example.com.", Qtype: dns.TypeA, Answer: trafficA("192.0.2.11")}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testPlugin(t, testSnapshot(t, tt.method, tt.health, tt.announcing...), false)
			m.Next = test.ErrorHandler()
			runCases(t, m, tt.cases)
		})
	}
}

// TestWeightedMethods checks the methods whose choice is a hash: the answer
// is one of the candidates, the same for one client every time, and the
// same the engine gives.
func TestWeightedMethods(t *testing.T) {
	for _, method := range []cluster.Method{cluster.MethodRandom, cluster.MethodSRV, cluster.MethodGeo} {
		t.Run(string(method), func(t *testing.T) {
			snap := testSnapshot(t, method, nil)
			m := testPlugin(t, snap, false)
			v := m.view.Load()
			for i := range 50 {
				from := netip.AddrFrom4([4]byte{100, 64, byte(i), 7}) // no prefix, no location
				want := engineChoice(v, from, 32)
				for range 2 {
					r := query(t, m, "traffic.support.example.com.", dns.TypeA, from.String(), nil)
					if len(r.Answer) != 1 {
						t.Fatalf("%s: %d answers", from, len(r.Answer))
					}
					if got := r.Answer[0].(*dns.A).A.String(); got != want {
						t.Fatalf("%s: answered %s, engine chose %s", from, got, want)
					}
				}
			}
		})
	}
}

// engineChoice returns the IPv4 address of the engine's first node.
func engineChoice(v *view, client netip.Addr, bits int) string {
	var d cluster.Decision
	v.eng.Select(cluster.Query{Client: client, SourceBits: bits, Now: time.Now()}, &d)
	if d.N == 0 {
		return ""
	}
	return d.Nodes[0].IPv4.String()
}

func TestFallthrough(t *testing.T) {
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	next := test.NextHandler(dns.RcodeRefused, nil) // a recognisable rcode
	tests := []struct {
		name     string
		zones    []string // the plugin's zones; support.example.com. by default
		fall     []string
		qname    string
		wantNext bool
	}{
		// Every name of the site's zone is the site's: static, owned or
		// NXDOMAIN, never the next plugin's.
		{"site zone, no such name, fallthrough", nil, []string{"."}, "nope.support.example.com.", false},
		{"site zone, static, fallthrough", nil, []string{"."}, "www.support.example.com.", false},
		{"site zone, owned, fallthrough", nil, []string{"."}, "traffic.support.example.com.", false},
		{"under the traffic hostname, fallthrough", nil, []string{"."}, "x.traffic.support.example.com.", false},
		{"site zone, no such name, no fallthrough", nil, nil, "nope.support.example.com.", false},
		// The plugin's zones beyond the site's zone: fallthrough decides.
		{"parent zone, fallthrough", []string{"example.com."}, []string{"."}, "www.example.com.", true},
		{"parent zone, fallthrough for it", []string{"example.com."}, []string{"example.com."}, "www.example.com.", true},
		{"parent zone, fallthrough for another zone", []string{"example.com."}, []string{"example.org."}, "www.example.com.", false},
		{"parent zone, no fallthrough", []string{"example.com."}, nil, "www.example.com.", false},
		{"parent zone, site name", []string{"example.com."}, []string{"."}, "www.support.example.com.", false},
		{"outside the plugin's zones", nil, nil, "www.example.org.", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testPlugin(t, snap, false, tt.fall...)
			if tt.zones != nil {
				m.zones = tt.zones
			}
			m.Next = next
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			req := new(dns.Msg)
			req.SetQuestion(tt.qname, dns.TypeA)
			code, _ := m.ServeDNS(context.Background(), rec, req)
			if gotNext := code == dns.RcodeRefused; gotNext != tt.wantNext {
				t.Fatalf("went to next plugin: %v, want %v (rcode %d)", gotNext, tt.wantNext, code)
			}
			if !tt.wantNext && rec.Msg != nil && rec.Msg.Rcode == dns.RcodeNameError {
				if len(rec.Msg.Ns) != 1 || rec.Msg.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("NXDOMAIN without the site's SOA: %v", rec.Msg)
				}
			}
		})
	}
}

func TestNoSnapshot(t *testing.T) {
	m := New(Config{Zones: []string{"support.example.com."}})
	m.Next = test.NextHandler(dns.RcodeRefused, nil)
	for _, q := range []string{"traffic.support.example.com.", "www.support.example.com."} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		req := new(dns.Msg)
		req.SetQuestion(q, dns.TypeA)
		if code, _ := m.ServeDNS(context.Background(), rec, req); code != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %d, want SERVFAIL", q, code)
		}
	}
}

func TestExplain(t *testing.T) {
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	m := testPlugin(t, snap, true)
	from := netip.MustParseAddr("203.0.113.5")
	r := query(t, m, "_explain.traffic.support.example.com.", dns.TypeTXT, from.String(), nil)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("rcode %d, %d answers", r.Rcode, len(r.Answer))
	}
	var d cluster.Decision
	m.view.Load().eng.Select(cluster.Query{Client: from, SourceBits: 32, Now: time.Now()}, &d)
	want := strings.Join(d.Explain(), "\n")
	got := strings.Join(r.Answer[0].(*dns.TXT).Txt, "\n")
	if got != want {
		t.Fatalf("explain:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(got, "geo") {
		t.Errorf("explain does not name the geo rule:\n%s", got)
	}
	// Other types at the explain name: NODATA.
	r = query(t, m, "_explain.traffic.support.example.com.", dns.TypeA, from.String(), nil)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("A at the explain name: %v", r)
	}
}

func runCases(t *testing.T, m *Meridian, cases []answerCase) {
	t.Helper()
	for _, tc := range cases {
		w := &test.ResponseWriter{RemoteIP: tc.from}
		rec := dnstest.NewRecorder(w)
		if _, err := m.ServeDNS(context.Background(), rec, tc.Msg()); err != nil {
			t.Errorf("%s %s from %s: %v", tc.Qname, dns.TypeToString[tc.Qtype], tc.from, err)
			continue
		}
		if rec.Msg == nil {
			t.Errorf("%s %s: no answer written", tc.Qname, dns.TypeToString[tc.Qtype])
			continue
		}
		if !rec.Msg.Authoritative {
			t.Errorf("%s %s: AA bit not set", tc.Qname, dns.TypeToString[tc.Qtype])
		}
		if err := test.SortAndCheck(rec.Msg, tc.Case); err != nil {
			t.Errorf("%s %s from %q: %v\n%v", tc.Qname, dns.TypeToString[tc.Qtype], tc.from, err, rec.Msg)
		}
	}
}

// query sends one question through the handler, with an optional OPT.
func query(t testing.TB, m *Meridian, qname string, qtype uint16, from string, opt *dns.OPT) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(qname, qtype)
	if opt != nil {
		req.Extra = append(req.Extra, opt)
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: from})
	if _, err := m.ServeDNS(context.Background(), rec, req); err != nil {
		t.Fatalf("%s: %v", qname, err)
	}
	if rec.Msg == nil {
		t.Fatalf("%s: no answer written", qname)
	}
	return rec.Msg
}
