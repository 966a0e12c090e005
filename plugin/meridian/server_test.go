package meridian

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meridian-traffic/meridian/cluster"
)

const (
	support = "support.example.com."
	traffic = "traffic.support.example.com."
)

// TestServer runs CoreDNS with the plugin, fed by a real director, through
// the life of a site: answers of every kind, the methods, failover to the
// secondary and fail open, the DNS swing, and the last-known-good snapshot
// across a restart with the director gone.
func TestServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and CoreDNS")
	}
	l := newLab(t, cluster.MethodGeo)
	geo := writeGeoDB(t)
	cache := filepath.Join(l.dir, "dns-cache")
	s := startServer(t, l.corefile(cache, geo))

	// The first probes mark every node up: the three primary nodes and the
	// secondary as the priority-20 fallback.
	eventually(t, 10*time.Second, func() string {
		r := s.ask(t, "_turn._udp."+traffic, dns.TypeSRV, "")
		if len(r.Answer) != 4 || len(r.Extra) != 7 {
			return "SRV: " + r.String()
		}
		return ""
	})

	if v := testutil.ToFloat64(snapshotVersion.WithLabelValues("test")); v < 1 {
		t.Errorf("snapshot version metric %v", v)
	}

	t.Run("answers", func(t *testing.T) {
		tests := []struct {
			qname string
			qtype uint16
			ecs   string
			rcode int
			want  string // addresses
			ns    int    // records in the authority section
		}{
			{support, dns.TypeA, "", dns.RcodeSuccess, "192.0.2.10", 0},
			{support, dns.TypeAAAA, "", dns.RcodeSuccess, "2001:db8::10", 0},
			{traffic, dns.TypeA, "10.1.2.0/24", dns.RcodeSuccess, "192.0.2.11", 0},
			{traffic, dns.TypeA, "10.2.2.0/24", dns.RcodeSuccess, "198.51.100.11", 0},
			{traffic, dns.TypeAAAA, "10.2.2.0/24", dns.RcodeSuccess, "2001:db8:1::11", 0},
			{traffic, dns.TypeAAAA, "2001:db8:ee00:100::/56", dns.RcodeSuccess, "2001:db8:1::11", 0},
			{"eu2.support.example.com.", dns.TypeA, "", dns.RcodeSuccess, "198.51.100.12", 0},
			{"eu2.support.example.com.", dns.TypeAAAA, "", dns.RcodeSuccess, "", 1},
			{traffic, dns.TypeMX, "", dns.RcodeSuccess, "", 1},
			{"x.traffic.support.example.com.", dns.TypeA, "", dns.RcodeNameError, "", 1},
			// The site's static records.
			{"www.support.example.com.", dns.TypeA, "", dns.RcodeSuccess, "192.0.2.80", 0},
			{"status.support.example.com.", dns.TypeA, "", dns.RcodeSuccess, "CNAME www.support.example.com. 192.0.2.80", 0},
			{"www.support.example.com.", dns.TypeTXT, "", dns.RcodeSuccess, "", 1},
			{"nope.support.example.com.", dns.TypeA, "", dns.RcodeNameError, "", 1},
		}
		for _, tt := range tests {
			r := s.ask(t, tt.qname, tt.qtype, tt.ecs)
			if r.Rcode != tt.rcode || answerAddrs(r) != tt.want || len(r.Ns) != tt.ns || !r.Authoritative {
				t.Errorf("%s %s (ECS %q): got %s %q with %d NS, aa %v; want %s %q with %d NS",
					tt.qname, dns.TypeToString[tt.qtype], tt.ecs, dns.RcodeToString[r.Rcode], answerAddrs(r), len(r.Ns), r.Authoritative,
					dns.RcodeToString[tt.rcode], tt.want, tt.ns)
			}
			if tt.ns == 1 {
				if soa, ok := r.Ns[0].(*dns.SOA); !ok || soa.Minttl != 30 || soa.Hdr.Ttl != 30 {
					t.Errorf("%s: authority %v, want the site SOA with TTL 30", tt.qname, r.Ns)
				}
			}
		}
	})

	t.Run("ECS", func(t *testing.T) {
		r := s.ask(t, traffic, dns.TypeA, "10.2.3.0/24")
		e := answerECS(r)
		if e == nil || e.Family != 1 || e.SourceNetmask != 24 || e.SourceScope == 0 || e.SourceScope > 24 {
			t.Fatalf("traffic ECS echo %v", e)
		}
		if e := answerECS(s.ask(t, support, dns.TypeA, "10.2.3.0/24")); e == nil || e.SourceScope != 0 {
			t.Fatalf("support ECS echo %v, want scope 0", e)
		}
		if e := answerECS(s.ask(t, traffic, dns.TypeA, "")); e != nil {
			t.Fatalf("ECS %v in the answer to a query without", e)
		}
		// Malformed options, written on the wire by hand (the client
		// library would mask the address), for an owned name and a static
		// one.
		checkMalformedECS(t, s, traffic, "www.support.example.com.")
		checkMalformedOPT(t, s, traffic, "www.support.example.com.")
		// A well-formed option on the wire is answered.
		if r := s.exchangeRaw(t, "tcp", traffic, dns.TypeA, []byte{0, 1, 24, 0, 10, 2, 3}); r.Rcode != dns.RcodeSuccess || answerECS(r) == nil {
			t.Errorf("well-formed ECS over TCP: %s, ECS %v", dns.RcodeToString[r.Rcode], answerECS(r))
		}
	})

	t.Run("methods", func(t *testing.T) {
		// Paris is nearest to London (secondary, not a candidate) and then
		// Frankfurt; Chicago to New York.
		l.apply(cluster.MethodTimezone)
		eventually(t, 10*time.Second, func() string {
			if x := explainText(t, s, "203.0.113.0/24"); !strings.Contains(x, "rule: timezone") {
				return "explain: " + x
			}
			return ""
		})
		expectAddrs(t, s, traffic, dns.TypeA, "203.0.113.0/24", "198.51.100.11")

		for _, m := range []cluster.Method{cluster.MethodRandom, cluster.MethodSRV} {
			l.apply(m)
			eventually(t, 10*time.Second, func() string {
				if x := explainText(t, s, "100.64.0.0/24"); !strings.Contains(x, "rule: "+string(m)) {
					return "explain: " + x
				}
				return ""
			})
			// Sticky: the same client gets the same node every time.
			first := answerAddrs(s.ask(t, traffic, dns.TypeA, "100.64.7.0/24"))
			if first == "" || first == "198.51.100.12" {
				t.Fatalf("%s: answered %q", m, first)
			}
			for range 5 {
				if got := answerAddrs(s.ask(t, traffic, dns.TypeA, "100.64.7.0/24")); got != first {
					t.Fatalf("%s: answered %q then %q", m, first, got)
				}
			}
		}

		l.apply(cluster.MethodAnycast)
		expectAddrs(t, s, traffic, dns.TypeA, "198.18.0.0/24", "192.0.2.12") // no announcement: geo
		l.announce("us1", "203.0.113.0/24")
		expectAddrs(t, s, traffic, dns.TypeA, "198.18.0.0/24", "203.0.113.1")
		l.announce("us1")
		expectAddrs(t, s, traffic, dns.TypeA, "198.18.0.0/24", "192.0.2.12")

		l.apply(cluster.MethodGeo)
		expectAddrs(t, s, traffic, dns.TypeA, "203.0.113.0/24", "198.51.100.11")
		expectAddrs(t, s, traffic, dns.TypeA, "198.18.0.0/24", "192.0.2.12")
	})

	t.Run("failover", func(t *testing.T) {
		// The prefix node goes away: its clients move, by geo, to the
		// nearest other node (10.1.0.0/16 has no location: weighted).
		l.targets["us1"].close()
		eventually(t, 5*time.Second, func() string {
			if got := answerAddrs(s.ask(t, traffic, dns.TypeA, "10.1.2.0/24")); got == "192.0.2.11" || got == "" {
				return "still " + got
			}
			return ""
		})
		// Its canonical name still answers.
		expectAddrs(t, s, "us1.support.example.com.", dns.TypeA, "", "192.0.2.11")

		// DNS swing.
		l.targets["master1"].close()
		expectAddrs(t, s, support, dns.TypeA, "", "198.51.100.10")

		// No primary left: the secondary.
		l.targets["us2"].close()
		l.targets["eu1"].close()
		expectAddrs(t, s, traffic, dns.TypeA, "198.18.0.0/24", "198.51.100.12")
		expectAddrs(t, s, traffic, dns.TypeA, "10.1.2.0/24", "198.51.100.12")

		// Nothing up: fail open, where the prefix wins again.
		l.targets["eu2"].close()
		expectAddrs(t, s, traffic, dns.TypeA, "10.1.2.0/24", "192.0.2.11")
		if x := explainText(t, s, "10.1.2.0/24"); !strings.Contains(x, "fail open") {
			t.Errorf("explain does not say fail open:\n%s", x)
		}
	})

	t.Run("last known good", func(t *testing.T) {
		s.stop()
		l.stopDir()
		// The director is gone; a new server answers from the cache, with
		// the state it last saw (swung, failed open).
		errs := testutil.ToFloat64(syncErrorCount.WithLabelValues("test"))
		s2 := startServer(t, l.corefile(cache, geo))
		for _, c := range []struct{ qname, ecs, want string }{
			{support, "", "198.51.100.10"},
			{traffic, "10.1.2.0/24", "192.0.2.11"},
			{"www.support.example.com.", "", "192.0.2.80"},
		} {
			if got := answerAddrs(s2.ask(t, c.qname, dns.TypeA, c.ecs)); got != c.want {
				t.Errorf("from the cache: %s: %q, want %q", c.qname, got, c.want)
			}
		}
		// The failed polls of the director show in the metrics.
		eventually(t, 5*time.Second, func() string {
			if testutil.ToFloat64(syncErrorCount.WithLabelValues("test")) <= errs {
				return "no sync errors counted"
			}
			return ""
		})
		s2.stop()

		// A cache that does not verify is never served.
		files, _ := filepath.Glob(filepath.Join(cache, "meridian-*"))
		if len(files) != 1 {
			t.Fatalf("cache files %v", files)
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(l.dir, "bad-cache")
		if err := os.MkdirAll(bad, 0o700); err != nil {
			t.Fatal(err)
		}
		// Same MAC, payload changed: the backup master's address.
		var env cluster.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(env.Payload), "198.51.100.10") {
			t.Fatal("cached payload does not hold the backup master's address")
		}
		env.Payload = []byte(strings.Replace(string(env.Payload), "198.51.100.10", "198.51.100.66", 1))
		if b, err = json.Marshal(env); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, filepath.Base(files[0])), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s3 := startServer(t, l.corefile(bad, geo))
		if r := s3.ask(t, support, dns.TypeA, ""); r.Rcode != dns.RcodeServerFailure {
			t.Errorf("tampered cache: %s %q, want SERVFAIL", dns.RcodeToString[r.Rcode], answerAddrs(r))
		}
	})
}

func answerECS(r *dns.Msg) *dns.EDNS0_SUBNET {
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				return s
			}
		}
	}
	return nil
}

// exchangeRaw sends a query whose OPT carries opts as ECS option data, as
// bytes, over udp or tcp.
func (s *server) exchangeRaw(t testing.TB, network, qname string, qtype uint16, opts ...[]byte) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var rdata []byte
	for _, opt := range opts {
		rdata = binary.BigEndian.AppendUint16(rdata, dns.EDNS0SUBNET)
		rdata = binary.BigEndian.AppendUint16(rdata, uint16(len(opt)))
		rdata = append(rdata, opt...)
	}
	// OPT: root, type 41, buffer 1232, TTL 0 (version 0, no DO).
	rr := []byte{0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0}
	rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
	wire = append(wire, append(rr, rdata...)...)
	binary.BigEndian.PutUint16(wire[10:], 1)
	addr := s.addr
	if network == "tcp" {
		addr = s.tcp
		wire = append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(wire); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	if network == "tcp" {
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(buf))
		_, err = io.ReadFull(c, buf[:n])
	} else {
		n, err = c.Read(buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return r
}

// malformedECS are ECS options a server must answer FORMERR, with an OPT
// record (RFC 7871 section 6 and 7.1.1, RFC 6891 section 7). decoder marks
// those the DNS library refuses while reading the message, before any
// plugin: it answers them itself, in every server block.
var malformedECS = []struct {
	name    string
	opts    [][]byte
	decoder bool
}{
	{"address bits beyond the prefix", [][]byte{{0, 1, 24, 0, 10, 2, 3, 4}}, false},
	{"IPv4 address byte too many", [][]byte{{0, 1, 24, 0, 10, 2, 3, 0}}, false},
	{"IPv4 address byte too few", [][]byte{{0, 1, 24, 0, 10, 2}}, false},
	{"IPv4 address without bytes", [][]byte{{0, 1, 24, 0}}, false},
	{"IPv4 address bytes for /0", [][]byte{{0, 1, 0, 0, 0}}, false},
	{"IPv6 address bytes too few", [][]byte{{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8}}, false},
	{"IPv6 address bytes too many", [][]byte{{0, 2, 32, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0}}, false},
	{"IPv6 address longer than IPv6", [][]byte{append([]byte{0, 2, 128, 0}, make([]byte, 17)...)}, false},
	{"family 0 with an address", [][]byte{{0, 0, 0, 0, 10}}, false},
	{"two options", [][]byte{{0, 1, 24, 0, 10, 2, 3}, {0, 1, 24, 0, 10, 1, 3}}, false},
	{"source prefix too long", [][]byte{{0, 1, 33, 0, 10, 2, 3, 4, 5}}, true},
	{"source prefix too long v6", [][]byte{append([]byte{0, 2, 129, 0}, make([]byte, 17)...)}, true},
	{"scope prefix too long", [][]byte{{0, 1, 24, 33, 10, 2, 3}}, true},
	{"unknown family", [][]byte{{0, 3, 8, 0, 10}}, true},
	{"family 0 with a prefix", [][]byte{{0, 0, 8, 0, 10}}, true},
	{"option shorter than its header", [][]byte{{0, 1}}, true},
}

// checkMalformedECS sends every malformed option over UDP and TCP for
// each name and wants FORMERR with an OPT record.
func checkMalformedECS(t *testing.T, s *server, names ...string) {
	t.Helper()
	for _, tt := range malformedECS {
		for _, network := range []string{"udp", "tcp"} {
			for _, qname := range names {
				t.Run(tt.name+"/"+network+"/"+qname, func(t *testing.T) {
					unreadable, refused := testutil.ToFloat64(unreadableCount), refusedTotal()
					r := s.exchangeRaw(t, network, qname, dns.TypeA, tt.opts...)
					if r.Rcode != dns.RcodeFormatError {
						t.Errorf("rcode %s, want FORMERR", dns.RcodeToString[r.Rcode])
					}
					if r.IsEdns0() == nil {
						t.Error("no OPT record in the FORMERR answer")
					}
					if counted := testutil.ToFloat64(unreadableCount) > unreadable; counted != tt.decoder {
						t.Errorf("counted as unreadable: %v, want %v", counted, tt.decoder)
					}
					if refusedTotal() <= refused {
						t.Error("the refusal was not counted")
					}
				})
			}
		}
	}
}

// TestMalformedEveryBlock sends every malformed option to a server block
// without the plugin: it too answers FORMERR with an OPT record, over UDP
// and TCP, and an unreadable request without OPT gets none back.
func TestMalformedEveryBlock(t *testing.T) {
	installRefusalCounter() // as a block with the plugin does
	s := startServer(t, "other.example.org:0 {\n    bind 127.0.0.1\n    whoami\n}\n")
	if r := s.exchangeRaw(t, "udp", "other.example.org.", dns.TypeA, []byte{0, 1, 24, 0, 10, 2, 3}); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("a well-formed option: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
	for _, tt := range malformedECS {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				r := s.exchangeRaw(t, network, "other.example.org.", dns.TypeA, tt.opts...)
				if r.Rcode != dns.RcodeFormatError || r.IsEdns0() == nil {
					t.Errorf("rcode %s, OPT %v; want FORMERR with OPT", dns.RcodeToString[r.Rcode], r.IsEdns0() != nil)
				}
			})
		}
	}
	checkMalformedOPT(t, s, "other.example.org.")
	t.Run("no OPT in the request", func(t *testing.T) {
		// A question whose label runs past the end: unreadable, no OPT.
		c, err := net.Dial("udp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 'a'}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeFormatError || r.IsEdns0() != nil {
			t.Errorf("rcode %s, OPT %v; want FORMERR without OPT", dns.RcodeToString[r.Rcode], r.IsEdns0() != nil)
		}
	})
}

// refusedTotal counts the requests refused before any server block, by
// the ECS rules or as unreadable.
func refusedTotal() float64 {
	n := testutil.ToFloat64(unreadableCount)
	for _, e := range []ednsError{errOPTMany, errOPTOwner, errECSMany, errECSFamily, errECSPrefix, errECSAddress, errECSLength, errECSBits} {
		n += testutil.ToFloat64(malformedCount.WithLabelValues("", string(e)))
	}
	return n
}

// checkMalformedOPT sends queries whose OPT records break RFC 6891 section
// 6.1.1 over UDP and TCP for each name and wants FORMERR with an OPT
// record, counted by the rule.
func checkMalformedOPT(t *testing.T, s *server, names ...string) {
	t.Helper()
	opt := func(owner string) *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		return o
	}
	for _, tt := range []struct {
		name  string
		extra []dns.RR
		rule  ednsError
	}{
		{"two OPT records", []dns.RR{opt("."), opt(".")}, errOPTMany},
		{"OPT record not owned by the root", []dns.RR{opt("example.org.")}, errOPTOwner},
	} {
		for _, network := range []string{"udp", "tcp"} {
			for _, qname := range names {
				t.Run(tt.name+"/"+network+"/"+qname, func(t *testing.T) {
					q := new(dns.Msg)
					q.SetQuestion(qname, dns.TypeA)
					q.Extra = tt.extra
					addr := s.addr
					if network == "tcp" {
						addr = s.tcp
					}
					before := testutil.ToFloat64(malformedCount.WithLabelValues("", string(tt.rule)))
					r, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(q, addr)
					if err != nil {
						t.Fatal(err)
					}
					if r.Rcode != dns.RcodeFormatError || r.IsEdns0() == nil {
						t.Errorf("rcode %s, OPT %v; want FORMERR with OPT", dns.RcodeToString[r.Rcode], r.IsEdns0() != nil)
					}
					if testutil.ToFloat64(malformedCount.WithLabelValues("", string(tt.rule))) <= before {
						t.Errorf("not counted as %q", tt.rule)
					}
				})
			}
		}
	}
}
