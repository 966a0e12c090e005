package meridian

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

func ecsOpt(family uint16, source uint8, addr string) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(4096)
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source}
	if addr != "" {
		e.Address = net.ParseIP(addr)
	}
	o.Option = append(o.Option, e)
	return o
}

func TestECS(t *testing.T) {
	snap := testSnapshot(t, cluster.MethodGeo, nil)
	m := testPlugin(t, snap, true)
	v := m.view.Load()
	engineScope := func(addr string, bits int) int {
		var d cluster.Decision
		v.eng.Select(cluster.Query{Client: netip.MustParseAddr(addr), SourceBits: bits, Now: time.Now()}, &d)
		return d.Scope
	}
	plain := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	plain.SetUDPSize(4096)
	twice := ecsOpt(1, 24, "10.2.3.0")
	twice.Option = append(twice.Option, ecsOpt(1, 24, "10.1.3.0").Option[0])

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		opt       *dns.OPT
		wantRcode int
		wantA     string // first answer's address, "" for none
		wantECS   bool
		wantScope int // -1: the engine's scope for the ECS prefix
	}{
		{"ECS chooses the node, not the source", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 24, "10.2.3.0"), dns.RcodeSuccess, "198.51.100.11", true, -1},
		{"ECS geo", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 24, "203.0.113.0"), dns.RcodeSuccess, "198.51.100.11", true, -1},
		{"ECS IPv6", "traffic.support.example.com.", dns.TypeAAAA, ecsOpt(2, 56, "2001:db8:ee00:100::"), dns.RcodeSuccess, "2001:db8:1::11", true, -1},
		{"ECS /0", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 0, "0.0.0.0"), dns.RcodeSuccess, "", true, 0},
		{"ECS family 0 prefix 0", "traffic.support.example.com.", dns.TypeA, ecsOpt(0, 0, ""), dns.RcodeSuccess, "", true, 0},
		{"support: scope 0", "support.example.com.", dns.TypeA, ecsOpt(1, 24, "10.2.3.0"), dns.RcodeSuccess, "192.0.2.10", true, 0},
		{"NODATA: scope 0", "us1.support.example.com.", dns.TypeMX, ecsOpt(1, 24, "10.2.3.0"), dns.RcodeSuccess, "", true, 0},
		{"NXDOMAIN: scope 0", "x.traffic.support.example.com.", dns.TypeA, ecsOpt(1, 24, "10.2.3.0"), dns.RcodeNameError, "", true, 0},
		{"explain: the whole source prefix", "_explain.traffic.support.example.com.", dns.TypeTXT, ecsOpt(1, 24, "10.2.3.0"), dns.RcodeSuccess, "", true, 24},
		{"OPT without ECS", "traffic.support.example.com.", dns.TypeA, plain, dns.RcodeSuccess, "", false, 0},

		{"prefix too long v4", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 33, "10.2.3.0"), dns.RcodeFormatError, "", false, 0},
		{"prefix too long v6", "traffic.support.example.com.", dns.TypeA, ecsOpt(2, 129, "2001:db8::"), dns.RcodeFormatError, "", false, 0},
		{"bits beyond the prefix", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 24, "10.2.3.4"), dns.RcodeFormatError, "", false, 0},
		{"bits beyond the prefix v6", "traffic.support.example.com.", dns.TypeA, ecsOpt(2, 48, "2001:db8:ee00:1::"), dns.RcodeFormatError, "", false, 0},
		{"unknown family", "traffic.support.example.com.", dns.TypeA, ecsOpt(3, 24, "10.2.3.0"), dns.RcodeFormatError, "", false, 0},
		{"family 0 with a prefix", "traffic.support.example.com.", dns.TypeA, ecsOpt(0, 8, ""), dns.RcodeFormatError, "", false, 0},
		{"IPv6 address in family 1", "traffic.support.example.com.", dns.TypeA, ecsOpt(1, 24, "2001:db8::"), dns.RcodeFormatError, "", false, 0},
		{"two options", "traffic.support.example.com.", dns.TypeA, twice, dns.RcodeFormatError, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What was sent, before the handler reuses the option.
			var q dns.EDNS0_SUBNET
			if len(tt.opt.Option) > 0 {
				q = *tt.opt.Option[0].(*dns.EDNS0_SUBNET)
				q.Address = append(net.IP(nil), q.Address...)
			}
			r := query(t, m, tt.qname, tt.qtype, "192.0.2.200", tt.opt)
			if r.Rcode != tt.wantRcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if tt.wantA != "" {
				if len(r.Answer) == 0 {
					t.Fatalf("no answer, want %s", tt.wantA)
				}
				var got string
				switch a := r.Answer[0].(type) {
				case *dns.A:
					got = a.A.String()
				case *dns.AAAA:
					got = a.AAAA.String()
				}
				if got != tt.wantA {
					t.Fatalf("answer %s, want %s", got, tt.wantA)
				}
			}
			opt := r.IsEdns0()
			if opt == nil {
				t.Fatal("no OPT in the answer to an EDNS query")
			}
			var got *dns.EDNS0_SUBNET
			for _, o := range opt.Option {
				if e, ok := o.(*dns.EDNS0_SUBNET); ok {
					got = e
				}
			}
			if !tt.wantECS {
				if got != nil {
					t.Fatalf("ECS in the answer: %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no ECS in the answer")
			}
			if got.Family != q.Family || got.SourceNetmask != q.SourceNetmask {
				t.Errorf("echo family %d source %d, want %d %d", got.Family, got.SourceNetmask, q.Family, q.SourceNetmask)
			}
			if q.Address != nil && !got.Address.Equal(q.Address) {
				t.Errorf("echo address %s, want %s", got.Address, q.Address)
			}
			want := tt.wantScope
			if want < 0 {
				want = engineScope(q.Address.String(), int(q.SourceNetmask))
				if want == 0 {
					t.Fatal("the engine's scope is 0 for a client-dependent answer")
				}
			}
			if int(got.SourceScope) != want {
				t.Errorf("scope %d, want %d", got.SourceScope, want)
			}
			// The echo must pack: a resolver has to read it.
			if _, err := r.Pack(); err != nil {
				t.Errorf("answer does not pack: %v", err)
			}
		})
	}
}

func TestNoECSWithoutOPT(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	r := query(t, m, "traffic.support.example.com.", dns.TypeA, "10.2.0.1", nil)
	if r.IsEdns0() != nil {
		t.Fatal("OPT in the answer to a query without one")
	}
}

// FuzzECS feeds arbitrary ECS option bytes through the wire decoder and the
// handler: nothing panics; an option the decoder refuses is FORMERR (the
// server answers it), and the handler answers FORMERR exactly when the
// option is invalid.
func FuzzECS(f *testing.F) {
	f.Add([]byte{0, 1, 24, 0, 10, 2, 3})
	f.Add([]byte{0, 1, 24, 0, 10, 2, 3, 4})
	f.Add([]byte{0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0xee, 0, 1})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 3, 8, 0, 1})
	f.Add([]byte{0, 1, 33, 0, 1, 2, 3, 4, 5})
	f.Add([]byte{0, 1})
	m := testPlugin(f, testSnapshot(f, cluster.MethodGeo, nil), true)
	f.Fuzz(func(t *testing.T, opt []byte) {
		if len(opt) > 512 {
			return
		}
		q := new(dns.Msg)
		q.SetQuestion("traffic.support.example.com.", dns.TypeA)
		wire, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		// OPT RR: root name, type 41, class 4096, TTL 0, rdata = one ECS option.
		rr := []byte{0, 0, 41, 0x10, 0, 0, 0, 0, 0}
		rr = binary.BigEndian.AppendUint16(rr, uint16(4+len(opt)))
		rr = binary.BigEndian.AppendUint16(rr, dns.EDNS0SUBNET)
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(opt)))
		rr = append(rr, opt...)
		wire = append(wire, rr...)
		binary.BigEndian.PutUint16(wire[10:], 1) // ARCOUNT
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			return // miekg/dns's server answers FORMERR itself
		}
		// Validated first: the handler reuses the query's OPT for the answer.
		_, invalid := clientOf(req, netip.MustParseAddr("10.240.0.1"))
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := m.ServeDNS(context.Background(), rec, req); err != nil {
			t.Fatal(err)
		}
		if rec.Msg == nil {
			t.Fatal("no answer")
		}
		if gotFormErr := rec.Msg.Rcode == dns.RcodeFormatError; gotFormErr != (invalid != nil) {
			t.Fatalf("rcode %s for option %x (validation: %v)", dns.RcodeToString[rec.Msg.Rcode], opt, invalid)
		}
		if _, err := rec.Msg.Pack(); err != nil {
			t.Fatalf("answer to option %x does not pack: %v", opt, err)
		}
	})
}

// TestOPTEcho checks the answer's OPT record: the query's buffer size (the
// server truncates to it) and DO bit, version 0, and no option but ECS.
func TestOPTEcho(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	opt := ecsOpt(1, 24, "10.2.3.0")
	opt.SetUDPSize(1400)
	opt.SetDo()
	opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
	r := query(t, m, traffic, dns.TypeA, "192.0.2.200", opt)
	o := r.IsEdns0()
	if o == nil {
		t.Fatal("no OPT")
	}
	if o.UDPSize() != 1400 || !o.Do() || o.Version() != 0 {
		t.Errorf("OPT size %d, DO %v, version %d; want 1400, true, 0", o.UDPSize(), o.Do(), o.Version())
	}
	if len(o.Option) != 1 || o.Option[0].Option() != dns.EDNS0SUBNET {
		t.Errorf("OPT options %v, want only ECS", o.Option)
	}
}
