package labrun

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/lab/topo"
)

func TestParseGeo(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		n               int
	}{
		{"lab file", "", "", 8},
		{"unknown field", "- network: 192.0.2.0/28\n  latitude: 1\n", "latitude", 0},
		{"empty", "[]", "no networks", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.yaml)
			if tc.yaml == "" {
				var err error
				if data, err = os.ReadFile("../" + geoYAML); err != nil {
					t.Fatal(err)
				}
			}
			nets, err := parseGeo(data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(nets) != tc.n {
				t.Fatalf("parseGeo = %d nets, %v; want %d", len(nets), err, tc.n)
			}
		})
	}
}

func TestPathsRewrite(t *testing.T) {
	labDir, runDir := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(labDir, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(labDir, "configs", "site.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := &Env{top: &topo.Topology{Dir: labDir}, dir: runDir}
	n := &topo.Node{Name: "d", Binds: []topo.Bind{
		{Host: "configs", Container: "/etc/meridian"},
		{Host: "configs/secrets", Container: "/etc/meridian/secrets"}, // not committed: generated
		{Host: "configs/site.yaml", Container: "/etc/meridian/site.yaml"},
	}}
	m, err := e.pathsFor(n)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"/etc/meridian/site.yaml", filepath.Join(labDir, "configs/site.yaml")},
		{"/etc/meridian/secrets/psk", filepath.Join(runDir, "configs/secrets") + "/psk"},
		{"/etc/meridian/other", filepath.Join(labDir, "configs") + "/other"},
		{"/var/lib/meridian/node", filepath.Join(runDir, "state", "d") + "/node"},
		{"--listen", "--listen"},
	}
	for _, tc := range tests {
		if got := m.rewrite(tc.in); got != tc.want {
			t.Errorf("rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		in       []time.Duration
		med, max time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{3, 1, 2}, 2, 3},
		{[]time.Duration{4, 1}, 4, 4},
	}
	for _, tc := range tests {
		if med, max := stats(tc.in); med != tc.med || max != tc.max {
			t.Errorf("stats(%v) = %v, %v; want %v, %v", tc.in, med, max, tc.med, tc.max)
		}
	}
}

func TestFailKeepsFirstReasons(t *testing.T) {
	var r Result
	for i := range 5 {
		r.fail("reason %d", i)
	}
	if r.Status != Fail || r.Detail != "reason 0; reason 1; reason 2; and 2 more" {
		t.Fatalf("result = %s %q", r.Status, r.Detail)
	}
}

func TestPrintTable(t *testing.T) {
	rep := &Report{Run: "mlab000000", Results: []Result{
		{ID: 1, Name: "one", Status: Pass, Figures: map[string]string{"b": "2", "a": "1"}},
		{ID: 2, Name: "two", Status: Skip, Detail: "why"},
	}}
	var b bytes.Buffer
	printTable(&b, rep)
	out := b.String()
	for _, want := range []string{"PASS    0.0      a: 1", "a: 1", "b: 2", "SKIP", "why", "lab mlab000000: FAIL"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "a: 1") > strings.Index(out, "b: 2") {
		t.Errorf("figures not sorted:\n%s", out)
	}
}

func TestProbeArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing kind"},
		{[]string{"nope"}, "unknown kind"},
		{[]string{"dns", "127.0.0.1:53"}, "wrong number"},
		{[]string{"turn", "a", "b"}, "wrong number"},
		{[]string{"wait-http", "http://127.0.0.1:1/", "soon"}, "invalid duration"},
		{[]string{"dns", "127.0.0.1:53", "x.", "not-a-prefix"}, "ecs"},
	}
	for _, tc := range tests {
		err := Probe(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Probe(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestProbeDNS runs the dns and watch-dns probes against a real DNS server
// on loopback that answers by EDNS Client Subnet.
func TestProbeDNS(t *testing.T) {
	server := ecsServer(t, func(q dns.Question, ecs *dns.EDNS0_SUBNET) dns.RR {
		addr := "192.0.2.1"
		if ecs != nil && ecs.Address.String() == "198.51.100.0" {
			addr = "198.51.100.1"
		}
		return &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP(addr)}
	})
	runProbes(t, []probeCase{
		{[]string{"dns", server, "traffic.example."}, "192.0.2.1\n"},
		{[]string{"dns", server, "traffic.example.", "198.51.100.0/28"}, "198.51.100.1\n"},
		{[]string{"watch-dns", server, "traffic.example.", "198.51.100.0/28", "192.0.2.1", "gone", "2s"}, "ready\ndone "},
		{[]string{"watch-dns", server, "traffic.example.", "-", "192.0.2.1", "back", "2s"}, "ready\ndone "},
	})
}

func TestFamilies(t *testing.T) {
	n := &topo.Node{Exec: []string{
		"ip addr add 192.0.2.18/30 dev eth1",
		"ip addr add 2001:db8:1:16::18/64 dev eth1 nodad",
		"ip addr add 203.0.113.241/32 dev lo",
		"ip addr add 2001:db8:0:240::241/128 dev lo",
		"ip -6 route replace default via 2001:db8:1:16::17",
	}}
	if got := famAddrOf(n, v4); got != "192.0.2.18" {
		t.Errorf("IPv4 address %q", got)
	}
	if got := famAddrOf(n, v6); got != "2001:db8:1:16::18" {
		t.Errorf("IPv6 address %q", got)
	}
	if famOf("2001:db8::1") != v6 || famOf("192.0.2.0/24") != v4 {
		t.Error("famOf")
	}
	subs, err := bucketSubnets("2001:db8:1:6400::/56")
	if err != nil || strings.Join(subs, " ") != "2001:db8:1:6401::/64 2001:db8:1:64fe::/64" {
		t.Errorf("bucketSubnets = %v, %v", subs, err)
	}
	if _, err := bucketSubnets("2001:db8:1::/64"); err == nil {
		t.Error("bucketSubnets of a /64: no error")
	}
	var r Result
	r.ffig(v6, "x", "%d", 1)
	r.figure("y", "2")
	var b bytes.Buffer
	printTable(&b, &Report{Results: []Result{r}})
	if !strings.Contains(b.String(), "ipv6 x: 1") || !strings.Contains(b.String(), "y: 2") {
		t.Errorf("table:\n%s", b.String())
	}
}

// TestProbeAAAA asks for AAAA records with an IPv6 client subnet.
func TestProbeAAAA(t *testing.T) {
	server := ecsServer(t, func(q dns.Question, ecs *dns.EDNS0_SUBNET) dns.RR {
		if q.Qtype != dns.TypeAAAA {
			return nil
		}
		addr := "2001:db8:1::1"
		if ecs != nil && ecs.Family == 2 && ecs.SourceNetmask == 56 && ecs.Address.String() == "2001:db8:2:6400::" {
			addr = "2001:db8:2::1"
		}
		return &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 5}, AAAA: net.ParseIP(addr)}
	})
	runProbes(t, []probeCase{
		{[]string{"aaaa", server, "traffic.example."}, "2001:db8:1::1\n"},
		{[]string{"aaaa", server, "traffic.example.", "2001:db8:2:6400::/56"}, "2001:db8:2::1\n"},
		{[]string{"dns", server, "traffic.example."}, "\n"},
		{[]string{"watch-dns", server, "traffic.example.", "2001:db8:2:6400::/56", "2001:db8:2::1", "back", "2s"}, "ready\ndone "},
	})
}

// ecsServer runs a DNS server on loopback that answers each question with
// what answer makes of it and its client subnet (nil without one); a nil
// record is an empty answer. It returns the server's address.
func ecsServer(t *testing.T, answer func(q dns.Question, ecs *dns.EDNS0_SUBNET) dns.RR) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		var ecs *dns.EDNS0_SUBNET
		if o := q.IsEdns0(); o != nil {
			for _, opt := range o.Option {
				if s, ok := opt.(*dns.EDNS0_SUBNET); ok {
					ecs = s
				}
			}
		}
		if rr := answer(q.Question[0], ecs); rr != nil {
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// probeCase is one Probe command line and the start of what it prints.
type probeCase struct {
	args []string
	want string
}

func runProbes(t *testing.T, cases []probeCase) {
	t.Helper()
	for _, tc := range cases {
		var out bytes.Buffer
		if err := Probe(tc.args, &out); err != nil {
			t.Fatalf("Probe(%q): %v", tc.args, err)
		}
		if !strings.HasPrefix(out.String(), tc.want) {
			t.Errorf("Probe(%q) printed %q, want prefix %q", tc.args, out.String(), tc.want)
		}
	}
}
