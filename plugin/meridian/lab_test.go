package meridian

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// The lab of the server tests: a real director (embedded etcd in a temp
// directory) probing loopback health targets the test opens and closes,
// and CoreDNS servers started from Corefiles, queried over UDP.

const adminToken = "admin-token-for-the-meridian-dns-tests"

// testHealth makes the director probe every target by TCP connect, every
// 250 ms, down after 3 failures, up after 1 success.
const testHealth = "health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 1, fall: 3}\n"

// target is a health target: a TCP listener that accepts and closes.
type target struct {
	ln   net.Listener
	addr string
	once sync.Once
}

func newTarget(t testing.TB) *target {
	t.Helper()
	tg := &target{addr: "127.0.0.1:0"}
	tg.open(t)
	tg.addr = tg.ln.Addr().String()
	t.Cleanup(tg.close)
	return tg
}

// open listens on the target's address (again).
func (tg *target) open(t testing.TB) {
	t.Helper()
	tg.ln, tg.once = testkit.AcceptingOn(t, tg.addr), sync.Once{}
}

// close makes the target fail its probes (connection refused).
func (tg *target) close() { tg.once.Do(func() { tg.ln.Close() }) }

// lab is one director with its targets.
type lab struct {
	t       testing.TB
	dir     string
	psk     cluster.PSK
	pskFile string
	targets map[string]*target
	site    func(cluster.Method) string
	d       *director.Director
	stopDir func()
	admin   *client.Admin
}

func newLab(t testing.TB, method cluster.Method) *lab {
	t.Helper()
	l := &lab{t: t, dir: t.TempDir(), targets: map[string]*target{}}
	psk, err := cluster.NewPSK([]byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	l.psk, l.pskFile = psk, writePSK(t, l.dir, testKey)
	addrs := map[string]string{}
	for _, n := range []string{"master1", "master2", "us1", "us2", "eu1", "eu2"} {
		l.targets[n] = newTarget(t)
		addrs[n] = l.targets[n].addr
	}
	l.site = func(m cluster.Method) string { return testHealth + siteYAML(m, addrs) }
	l.startDirector(method)
	return l
}

func (l *lab) startDirector(method cluster.Method) {
	t := l.t
	t.Helper()
	d, err := director.New(director.Config{
		Name: "d1", Listen: "127.0.0.1:0",
		Etcd:     director.EtcdConfig{DataDir: filepath.Join(l.dir, "etcd")},
		SiteFile: "test.yaml", SiteData: []byte(l.site(method)),
		PSK: l.psk, AdminToken: adminToken, ElectionTTL: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("director: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("director not ready after 30s")
	}
	var once sync.Once
	l.d = d
	l.stopDir = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("director: %v", err)
			}
		})
	}
	t.Cleanup(l.stopDir)
	l.admin = client.NewAdmin("http://"+d.Addr(), adminToken, nil)
}

// apply stores a new site configuration.
func (l *lab) apply(method cluster.Method) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.admin.Apply(ctx, "test.yaml", []byte(l.site(method))); err != nil {
		l.t.Fatalf("apply %s: %v", method, err)
	}
}

// heartbeat tells the director that a node announces its anycast prefix.
func (l *lab) announce(node string, prefixes ...string) {
	l.t.Helper()
	sub, err := client.NewSubscriber(client.SubscriberConfig{
		Director: "http://" + l.d.Addr(), PSK: l.psk, ID: node, Kind: api.KindNode,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	hb := &api.Heartbeat{Node: node}
	for _, p := range prefixes {
		hb.Announcing = append(hb.Announcing, mustPrefix(l.t, p))
	}
	if err := sub.SendHeartbeat(context.Background(), hb); err != nil {
		l.t.Fatalf("heartbeat %s: %v", node, err)
	}
}

// corefile returns a Corefile for the lab: meridian serving the whole
// zone of the site, static records included, on a free loopback port.
func (l *lab) corefile(cacheDir, geo string) string {
	geoLine := ""
	if geo != "" {
		geoLine = "geoip " + geo
	}
	return fmt.Sprintf(`support.example.com:0 {
    bind 127.0.0.1
    meridian {
        director http://%s
        psk_file %s
        cache_dir %s
        %s
        id dns/test
        explain on
    }
}
`, l.d.Addr(), l.pskFile, cacheDir, geoLine)
}

// server is one CoreDNS instance.
type server struct {
	inst *caddy.Instance
	addr string // UDP
	tcp  string
	once sync.Once
}

// startServer starts CoreDNS from a Corefile.
func startServer(t testing.TB, corefile string) *server {
	t.Helper()
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile", ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("start CoreDNS: %v\n%s", err, corefile)
	}
	s := &server{inst: inst}
	if srvs := inst.Servers(); len(srvs) > 0 && srvs[0].LocalAddr() != nil {
		s.addr = srvs[0].LocalAddr().String()
		if a := srvs[0].Addr(); a != nil {
			s.tcp = a.String()
		}
	}
	t.Cleanup(s.stop)
	if s.addr == "" {
		t.Fatal("CoreDNS has no UDP listener")
	}
	return s
}

// stop runs the plugins' shutdown (caddy's Stop alone does not) and stops
// the listeners.
func (s *server) stop() {
	s.once.Do(func() {
		s.inst.ShutdownCallbacks()
		s.inst.Stop()
	})
}

// ask sends one query over UDP.
func (s *server) ask(t testing.TB, qname string, qtype uint16, ecs string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if ecs != "" {
		p := mustPrefix(t, ecs)
		fam := uint16(familyIPv4)
		if p.Addr().Is6() {
			fam = familyIPv6
		}
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}}
		m.Extra = append(m.Extra, o)
	}
	return s.exchange(t, m)
}

func (s *server) exchange(t testing.TB, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, s.addr)
	if err != nil {
		t.Fatalf("%s %s: %v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// answerAddrs returns the addresses of an answer, in order.
func answerAddrs(r *dns.Msg) string {
	var out []string
	for _, rr := range r.Answer {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.A.String())
		case *dns.AAAA:
			out = append(out, a.AAAA.String())
		case *dns.CNAME:
			out = append(out, "CNAME "+a.Target)
		}
	}
	return strings.Join(out, " ")
}

// eventually polls f until it returns "" (success) or the deadline passes.
func eventually(t testing.TB, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectAddrs waits until the answer's addresses are want.
func expectAddrs(t testing.TB, s *server, qname string, qtype uint16, ecs, want string) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		r := s.ask(t, qname, qtype, ecs)
		if got := answerAddrs(r); got != want || r.Rcode != dns.RcodeSuccess {
			return fmt.Sprintf("%s %s (ECS %s): %s %q, want %q", qname, dns.TypeToString[qtype], ecs, dns.RcodeToString[r.Rcode], got, want)
		}
		return ""
	})
}

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// explainText returns the explain TXT answer for an ECS prefix.
func explainText(t testing.TB, s *server, ecs string) string {
	r := s.ask(t, "_explain.traffic.support.example.com.", dns.TypeTXT, ecs)
	if len(r.Answer) == 0 {
		return ""
	}
	return strings.Join(r.Answer[0].(*dns.TXT).Txt, "\n")
}
