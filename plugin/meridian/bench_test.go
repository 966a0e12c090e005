package meridian

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

// discardWriter packs the answer as the server would and drops it.
type discardWriter struct {
	test.ResponseWriter
	addr net.Addr
	buf  []byte
}

func (w *discardWriter) RemoteAddr() net.Addr { return w.addr }

func (w *discardWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.buf = b[:0]
	return err
}

func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkServeDNS is the handler's cost per query as the server calls it
// (through CoreDNS's ScrubWriter, packing included), for the traffic
// hostname with ECS (geo) and without, over many client subnets, and the
// support hostname; "packed" variants answer without the wire cache.
func BenchmarkServeDNS(b *testing.B) {
	snap := testSnapshot(b, cluster.MethodGeo, nil)
	m := testPlugin(b, snap, false)
	db, err := geoip.Open(writeGeoDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// The real GeoIP reader, as in the server.
	m.view.Store(newView(snap, cluster.NewEngine(snap, db), false))
	packed := testPlugin(b, snap, false)
	packed.wire = nil
	packed.view.Store(m.view.Load())
	// Client subnets: /24s of 198.18.0.0/15 (located) and of 10.0.0.0/8.
	subnets := func(n int) []*dns.OPT {
		var opts []*dns.OPT
		for i := range n {
			a := [4]byte{198, 18 + byte(i>>8&1), byte(i), 0}
			if i%2 == 1 {
				a = [4]byte{10, byte(i >> 8), byte(i), 0}
			}
			opts = append(opts, ecsOpt(1, 24, netip.AddrFrom4(a).String()))
		}
		return opts
	}
	for _, bc := range []struct {
		name  string
		m     *Meridian
		qname string
		opts  []*dns.OPT
	}{
		{"traffic_ecs", m, traffic, []*dns.OPT{ecsOpt(1, 24, "203.0.113.0")}},
		{"traffic_ecs_10000", m, traffic, subnets(10000)},
		{"traffic", m, traffic, nil},
		{"support", m, support, nil},
		{"packed/traffic_ecs", packed, traffic, []*dns.OPT{ecsOpt(1, 24, "203.0.113.0")}},
		{"packed/traffic_ecs_10000", packed, traffic, subnets(10000)},
		{"packed/traffic", packed, traffic, nil},
		{"packed/support", packed, support, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reqs := make([]*dns.Msg, max(len(bc.opts), 1))
			ws := make([]dns.ResponseWriter, len(reqs))
			dw := &discardWriter{addr: &net.UDPAddr{IP: net.ParseIP("198.18.0.1"), Port: 5353}, buf: make([]byte, 0, 512)}
			for i := range reqs {
				reqs[i] = new(dns.Msg)
				reqs[i].SetQuestion(bc.qname, dns.TypeA)
				if bc.opts != nil {
					reqs[i].Extra = []dns.RR{bc.opts[i]}
				}
				ws[i] = request.NewScrubWriter(reqs[i], dw)
			}
			ctx := context.Background()
			for i := range reqs { // the first answer of each fills the cache
				bc.m.ServeDNS(ctx, ws[i], reqs[i])
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.m.ServeDNS(ctx, ws[i], reqs[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(reqs) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkCheckEDNS is the request check `meridian dns` runs on every
// query before any server block: a query with a /24 ECS option, as read
// from the wire.
func BenchmarkCheckEDNS(b *testing.B) {
	q := new(dns.Msg)
	q.SetQuestion("traffic.support.example.com.", dns.TypeA)
	q.Extra = append(q.Extra, ecsOpt(1, 24, "10.2.3.0"))
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckEDNS(m); err != nil {
			b.Fatal(err)
		}
	}
}
