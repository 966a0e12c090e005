package meridian

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

// wireRecorder is the server's connection: it keeps the bytes of the
// answer, packed as the server packs a dns.Msg or written as given.
type wireRecorder struct {
	test.ResponseWriter
	addr   net.Addr
	out    []byte
	writes int
	packed bool // the answer came as a dns.Msg
}

func (w *wireRecorder) RemoteAddr() net.Addr { return w.addr }

func (w *wireRecorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.out, w.writes, w.packed = b, w.writes+1, true
	return err
}

func (w *wireRecorder) Write(b []byte) (int, error) {
	w.out, w.writes, w.packed = append(w.out[:0], b...), w.writes+1, false
	return len(b), nil
}

// serveWireBytes answers the query q (wire format) through CoreDNS's
// ScrubWriter, as the server calls the plugin, and returns the bytes sent.
func serveWireBytes(t testing.TB, m *Meridian, q []byte, from net.Addr) *wireRecorder {
	t.Helper()
	r := new(dns.Msg)
	if err := r.Unpack(q); err != nil {
		t.Fatal(err)
	}
	rec := &wireRecorder{addr: from}
	m.ServeDNS(context.Background(), request.NewScrubWriter(r, rec), r)
	return rec
}

// wirePair returns a plugin with the wire cache and one without, serving
// the same view.
func wirePair(t testing.TB, snap *cluster.Snapshot, loc cluster.Locator) (cached, packed *Meridian) {
	t.Helper()
	cached, packed = testPlugin(t, snap, true), testPlugin(t, snap, true)
	packed.wire = nil
	v := newView(snap, cluster.NewEngine(snap, loc), true)
	cached.view.Store(v)
	packed.view.Store(v)
	return cached, packed
}

// randomCase returns name with random letter case (0x20 randomisation).
func randomCase(rng *rand.Rand, name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && rng.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// randomAddr returns an address of family 4 or 6, near the networks the
// test site and locator know (override prefixes, located networks) or
// anywhere.
func randomAddr(rng *rand.Rand, v6 bool) netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	if !v6 {
		near := [][]byte{{10, 1}, {10, 2}, {203, 0, 113}, {198, 18}, {198, 19}, {10}, {192, 0, 2}, {}}
		p := near[rng.IntN(len(near))]
		copy(b[:], p)
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	near := [][]byte{{0x20, 0x01, 0x0d, 0xb8, 0xee}, {0x20, 0x01, 0x0d, 0xb8, 0xaa}, {0x20, 0x01, 0x0d, 0xb8}, {}}
	p := near[rng.IntN(len(near))]
	copy(b[:], p)
	return netip.AddrFrom16(b)
}

// randomQuery returns a query (wire format) and the address it comes from.
func randomQuery(t testing.TB, rng *rand.Rand) ([]byte, net.Addr) {
	t.Helper()
	names := []string{
		traffic, traffic, traffic, traffic, support, "us1.support.example.com.", "eu2.support.example.com.",
		"_turn._udp." + traffic, "_turns._tcp." + traffic, "_udp." + traffic, explainPrefix + traffic,
		"missing." + traffic, "missing.support.example.com.", "example.org.",
		// Static records (wireSite): addresses, an alias of them, aliases
		// of the traffic hostname (one through another) and of explain.
		"www.support.example.com.", "status.support.example.com.", "ns1.support.example.com.",
		"_dmarc.support.example.com.", "app.support.example.com.", "app.support.example.com.",
		"app2.support.example.com.", "why.support.example.com.",
		// Answers over 512 bytes and over CoreDNS's UDP compression limit.
		"big.support.example.com.", "huge.support.example.com.",
	}
	types := []uint16{dns.TypeA, dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeSRV, dns.TypeTXT,
		dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeCAA}
	r := new(dns.Msg)
	r.SetQuestion(randomCase(rng, names[rng.IntN(len(names))]), types[rng.IntN(len(types))])
	r.Id = uint16(rng.UintN(1 << 16))
	r.RecursionDesired, r.CheckingDisabled = rng.IntN(2) == 0, rng.IntN(4) == 0
	if rng.IntN(20) == 0 {
		r.Question[0].Qclass = dns.ClassCHAOS
	}
	if rng.IntN(4) > 0 {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize([]uint16{0, 512, 1232, 4096}[rng.IntN(4)])
		if rng.IntN(3) == 0 {
			o.SetDo()
		}
		if rng.IntN(5) == 0 {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}
		switch rng.IntN(6) {
		case 0, 1, 2:
			a := randomAddr(rng, false)
			bits := []int{0, 8, 16, 20, 24, 24, 24, 32}[rng.IntN(8)]
			p, _ := a.Prefix(bits)
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
				SourceNetmask: uint8(bits), Address: p.Addr().AsSlice()})
		case 3, 4:
			a := randomAddr(rng, true)
			bits := []int{0, 32, 40, 48, 56, 56, 64, 128}[rng.IntN(8)]
			p, _ := a.Prefix(bits)
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2,
				SourceNetmask: uint8(bits), Address: p.Addr().AsSlice()})
		default:
			if rng.IntN(2) == 0 {
				o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 0})
			}
		}
		r.Extra = append(r.Extra, o)
	}
	q, err := r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	src := randomAddr(rng, rng.IntN(3) == 0)
	if rng.IntN(5) == 0 {
		return q, &net.TCPAddr{IP: src.AsSlice(), Port: 53000}
	}
	return q, &net.UDPAddr{IP: src.AsSlice(), Port: 53000}
}

// TestWireSameAnswers: for random clients, names and types, under every
// selection method and pool, the answer from the wire cache (on the miss
// that fills it and on the hits after) is byte for byte the answer packed
// from a dns.Msg.
func TestWireSameAnswers(t *testing.T) {
	db, err := geoip.Open(writeGeoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type wireCase struct {
		name   string
		method cluster.Method
		h      health
		any    []string
	}
	cases := []wireCase{
		{"random", cluster.MethodRandom, nil, nil},
		{"geo", cluster.MethodGeo, nil, nil},
		{"geo-secondary", cluster.MethodGeo, health{"us1": cluster.Down, "us2": cluster.Down, "eu1": cluster.Down}, nil},
		{"geo-fail-open", cluster.MethodGeo, health{"us1": cluster.Down, "us2": cluster.Down, "eu1": cluster.Down, "eu2": cluster.Down}, nil},
		{"timezone", cluster.MethodTimezone, nil, nil},
		{"srv", cluster.MethodSRV, nil, nil},
		{"anycast", cluster.MethodAnycast, nil, []string{"us1", "eu1"}},
		{"anycast-none", cluster.MethodAnycast, nil, nil},
	}
	// With a real City database as well, when the GeoLite2 test has one.
	var real cluster.Locator
	if f := os.Getenv(envGeoLiteFile); f != "" {
		rdb, err := geoip.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		real = rdb
		cases = append(cases, wireCase{"geolite-geo", cluster.MethodGeo, nil, nil},
			wireCase{"geolite-timezone", cluster.MethodTimezone, nil, nil})
	}
	const queries = 3000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := testSnapshot(t, tc.method, tc.h, tc.any...)
			snap.Config = wireSite(t, tc.method)
			var loc cluster.Locator = db
			if strings.HasPrefix(tc.name, "geolite") {
				loc = real
			}
			cached, packed := wirePair(t, snap, loc)
			rng := rand.New(rand.NewPCG(uint64(len(tc.name)), 7))
			hits := 0
			for range queries {
				q, from := randomQuery(t, rng)
				want := serveWireBytes(t, packed, q, from)
				for i := range 3 {
					got := serveWireBytes(t, cached, q, from)
					if got.writes != want.writes || !bytes.Equal(got.out, want.out) {
						var g, w dns.Msg
						_ = g.Unpack(got.out)
						_ = w.Unpack(want.out)
						t.Fatalf("query %d of\n%v\nfrom %v: cached answer\n%x\n%v\npacked answer\n%x\n%v", i, unpacked(q), from, got.out, &g, want.out, &w)
					}
					if i > 0 && !got.packed {
						hits++
					}
				}
			}
			if hits < queries/2 {
				t.Errorf("%d answers of %d from the cache", hits, 2*queries)
			}
		})
	}
}

// wireSite is the test site with aliases of the traffic hostname and of
// the explain name among its static records.
func wireSite(t testing.TB, method cluster.Method) *cluster.Site {
	t.Helper()
	y := siteYAML(method, nil) + `  - {name: app, type: CNAME, value: traffic}
  - {name: app2, type: CNAME, value: app}
  - {name: why, type: CNAME, value: _explain.traffic}
  - {name: big, type: TXT, value: "` + strings.Repeat("b", 600) + `"}
  - {name: huge, type: TXT, value: "` + strings.Repeat("h", 1400) + `"}
`
	s, err := cluster.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unpacked(q []byte) *dns.Msg {
	m := new(dns.Msg)
	_ = m.Unpack(q)
	return m
}

// TestWireFreshSnapshot: a cached answer does not outlive its snapshot: a
// health change, and a configuration change, reach the first query after
// the snapshot arrives.
func TestWireFreshSnapshot(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	m.run.loc = testLocator
	q := new(dns.Msg)
	q.SetQuestion(traffic, dns.TypeA)
	q.Extra = []dns.RR{ecsOpt(1, 24, "203.0.113.0")} // Paris: eu1
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	from := &net.UDPAddr{IP: net.ParseIP("192.0.2.53"), Port: 5353}
	answer := func() (string, uint32) {
		t.Helper()
		w := serveWireBytes(t, m, b, from)
		var a dns.Msg
		if err := a.Unpack(w.out); err != nil || len(a.Answer) != 1 {
			t.Fatalf("answer %v (%v)", &a, err)
		}
		return a.Answer[0].(*dns.A).A.String(), a.Answer[0].Header().Ttl
	}
	for range 3 {
		if a, _ := answer(); a != "198.51.100.11" {
			t.Fatalf("Paris got %s, want eu1 198.51.100.11", a)
		}
	}
	if m.wire.get(m.view.Load(), traffic, dns.TypeA, netip.MustParseAddr("203.0.113.0"), 24) == nil {
		t.Fatal("the answer is not cached")
	}

	// eu1 goes down: the next snapshot's first query gets another node.
	m.install(testSnapshot(t, cluster.MethodGeo, health{"eu1": cluster.Down}))
	if a, _ := answer(); a == "198.51.100.11" {
		t.Fatal("Paris still gets eu1 after it went down")
	}

	// A configuration change (the traffic TTL) with every node up again.
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	snap.Config.TTL.Traffic = 42
	snap.Version, snap.ConfigVersion = 9, 4
	m.install(snap)
	if a, ttl := answer(); a != "198.51.100.11" || ttl != 42 {
		t.Fatalf("after the configuration change Paris got %s TTL %d, want eu1 TTL 42", a, ttl)
	}
}

// TestWireWriters: answers go out as bytes only through CoreDNS's
// ScrubWriter (under the prometheus plugin's recorder, which learns the
// rcode); another writer gets a dns.Msg, and so does an answer too large
// for the client.
func TestWireWriters(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	from := &net.UDPAddr{IP: net.ParseIP("192.0.2.53"), Port: 5353}
	r := new(dns.Msg)
	r.SetQuestion("missing."+traffic, dns.TypeA)
	for range 2 {
		rec := &wireRecorder{addr: from}
		mr := metrics.NewRecorder(request.NewScrubWriter(r, rec))
		m.ServeDNS(context.Background(), mr, r)
		if rec.packed || mr.Rcode != dns.RcodeNameError || mr.Len != len(rec.out) {
			t.Fatalf("under the recorder: packed %v, rcode %d, length %d of %d", rec.packed, mr.Rcode, mr.Len, len(rec.out))
		}
	}
	rec := &wireRecorder{addr: from}
	m.ServeDNS(context.Background(), rec, r)
	if !rec.packed {
		t.Fatal("bytes written to a writer other than the ScrubWriter")
	}
}

// TestWireNoAllocs: an answer from the cache allocates nothing in the
// plugin (the server's ScrubWriter is made outside).
func TestWireNoAllocs(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	for _, opt := range []*dns.OPT{nil, ecsOpt(1, 24, "203.0.113.0"), ecsOpt(2, 56, "2001:db8:aa00::")} {
		r := new(dns.Msg)
		r.SetQuestion(traffic, dns.TypeA)
		if opt != nil {
			r.Extra = []dns.RR{opt}
		}
		rec := &wireRecorder{addr: &net.UDPAddr{IP: net.ParseIP("198.18.0.1"), Port: 5353}, out: make([]byte, 0, 512)}
		w := request.NewScrubWriter(r, rec)
		ctx := context.Background()
		m.ServeDNS(ctx, w, r)
		if n := testing.AllocsPerRun(100, func() { m.ServeDNS(ctx, w, r) }); n != 0 || rec.packed {
			t.Errorf("ECS %v: %v allocations per query (packed %v)", opt, n, rec.packed)
		}
	}
}

// TestWireTimezone: a timezone answer is cached until the next UTC offset
// change of the zones it read, and not after.
func TestWireTimezone(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodTimezone, nil), false)
	q := new(dns.Msg)
	q.SetQuestion(traffic, dns.TypeA)
	q.Extra = []dns.RR{ecsOpt(1, 24, "203.0.113.0")} // Paris
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	from := &net.UDPAddr{IP: net.ParseIP("192.0.2.53"), Port: 5353}
	serveWireBytes(t, m, b, from)
	v, key := m.view.Load(), netip.MustParseAddr("203.0.113.0")
	e := m.wire.get(v, traffic, dns.TypeA, key, 24)
	if e == nil || !e.timed || e.until <= time.Now().UnixNano() || e.from > time.Now().UnixNano() {
		t.Fatalf("timezone answer cached as %+v", e)
	}
	if w := serveWireBytes(t, m, b, from); w.packed {
		t.Fatal("a cached timezone answer was packed again")
	}
	e.until = time.Now().UnixNano() // the transition has come
	if m.wire.get(v, traffic, dns.TypeA, key, 24) != nil {
		t.Fatal("a timezone answer is served past its zones' transition")
	}
	serveWireBytes(t, m, b, from)
	if n := m.wire.get(v, traffic, dns.TypeA, key, 24); n == nil || n == e || n.until <= time.Now().UnixNano() {
		t.Fatal("the answer after the transition is not cached anew")
	}
}
