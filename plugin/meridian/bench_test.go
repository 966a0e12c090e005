package meridian

import (
	"context"
	"net"
	"testing"

	"github.com/coredns/coredns/plugin/test"
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

// BenchmarkServeDNS is the handler's cost per query, packing included, for
// the traffic hostname with ECS (geo) and the support hostname.
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
	for _, bc := range []struct {
		name  string
		qname string
		opt   *dns.OPT
	}{
		{"traffic_ecs", traffic, ecsOpt(1, 24, "203.0.113.0")},
		{"traffic", traffic, nil},
		{"support", support, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := new(dns.Msg)
			req.SetQuestion(bc.qname, dns.TypeA)
			if bc.opt != nil {
				req.Extra = []dns.RR{bc.opt}
			}
			w := &discardWriter{addr: &net.UDPAddr{IP: net.ParseIP("198.18.0.1"), Port: 5353}, buf: make([]byte, 0, 512)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.ServeDNS(ctx, w, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
