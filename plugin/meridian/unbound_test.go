package meridian

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip/geoiptest"
)

// TestUnboundSubnetCache puts a real Unbound with its subnet cache in
// front of the plugin: a client asking with a short ECS prefix gets the
// answer for that network as given, and Unbound, reading the scope, must
// not hand that answer to the other clients of the short prefix that lie
// in another GeoIP network or override prefix, neither before nor after
// their own answers are cached.
func TestUnboundSubnetCache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, CoreDNS and Unbound")
	}
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("unbound is not installed (Debian package unbound): the subnet cache test needs it")
	}
	l := newLab(t, cluster.MethodGeo)
	var entries []geoiptest.Entry
	for _, e := range testLocator {
		entries = append(entries, geoiptest.Entry{Network: e.net.String(), Lat: e.loc.Lat, Lon: e.loc.Lon, TimeZone: e.loc.TimeZone})
	}
	// Two GeoIP networks inside 100.70.0.0/16: Paris (Frankfurt's eu1 is
	// nearest) and Chicago (New York's us2).
	entries = append(entries,
		geoiptest.Entry{Network: "100.70.0.0/24", Lat: 48.85, Lon: 2.35, TimeZone: "Europe/Paris"},
		geoiptest.Entry{Network: "100.70.1.0/24", Lat: 41.88, Lon: -87.63, TimeZone: "America/Chicago"},
	)
	geo := geoiptest.Path(t, entries...)
	s := startServer(t, l.corefile(filepath.Join(l.dir, "dns-cache"), geo))
	// Paris gets eu1 only from the pool of primaries up (failing open,
	// eu2 in London is nearer): wait for it before Unbound caches answers.
	expectAddrs(t, s, traffic, dns.TypeA, "100.70.0.0/24", "198.51.100.11")
	expectAddrs(t, s, traffic, dns.TypeA, "100.70.1.0/24", "192.0.2.12")

	ub := startUnbound(t, bin, s.addr)
	ask := func(ecs string) (string, *dns.EDNS0_SUBNET) {
		t.Helper()
		p := mustPrefix(t, ecs)
		m := new(dns.Msg)
		m.SetQuestion(traffic, dns.TypeA)
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: familyIPv4, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}}
		m.Extra = append(m.Extra, o)
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		r, _, err := c.Exchange(m, ub)
		if err != nil {
			t.Fatalf("unbound, ECS %s: %v", ecs, err)
		}
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("unbound, ECS %s: %s", ecs, dns.RcodeToString[r.Rcode])
		}
		return answerAddrs(r), answerECS(r)
	}

	steps := []struct {
		ecs  string
		want string // "" for any answer
	}{
		// The short prefix first: decided for 100.70.0.0, in Paris's /24.
		{"100.70.0.0/16", "198.51.100.11"},
		{"100.70.1.0/24", "192.0.2.12"},
		{"100.70.0.0/24", "198.51.100.11"},
		// 10.0.0.0/8 holds the override prefixes 10.1/16 (us1) and
		// 10.2/16 (eu1); the /8 is decided for 10.0.0.0.
		{"10.0.0.0/8", ""},
		{"10.1.2.0/24", "192.0.2.11"},
		{"10.2.2.0/24", "198.51.100.11"},
	}
	first := map[string]string{}
	for round := range 2 { // the second round comes from Unbound's cache
		for _, st := range steps {
			got, e := ask(st.ecs)
			if got == "" {
				t.Fatalf("round %d, ECS %s: empty answer", round, st.ecs)
			}
			if st.want != "" && got != st.want {
				t.Errorf("round %d, ECS %s: %s, want %s (ECS echo %v)", round, st.ecs, got, st.want, e)
			}
			if prev, ok := first[st.ecs]; ok && prev != got {
				t.Errorf("ECS %s: %s, then %s from the cache", st.ecs, prev, got)
			}
			first[st.ecs] = got
		}
	}
}

// startUnbound runs Unbound on a free loopback port with its subnet cache,
// sending ECS to the plugin's server at dnsAddr for support.example.com,
// and returns its address.
func startUnbound(t *testing.T, bin, dnsAddr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ubPort := freePort(t)
	conf := fmt.Sprintf(`server:
    interface: 127.0.0.1
    port: %d
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%s"
    pidfile: "%s"
    use-syslog: no
    logfile: ""
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "subnetcache iterator"
    send-client-subnet: %s
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    qname-minimisation: no
    minimal-responses: yes
stub-zone:
    name: "support.example.com"
    stub-addr: %s@%s
`, ubPort, dir, filepath.Join(dir, "unbound.pid"), host, host, port)
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ubPort))
	// Ready when it answers a name it serves locally.
	eventually(t, 10*time.Second, func() string {
		m := new(dns.Msg)
		m.SetQuestion("localhost.", dns.TypeA)
		c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
		if _, _, err := c.Exchange(m, addr); err != nil {
			return "unbound not answering: " + err.Error()
		}
		return ""
	})
	return addr
}

// freePort returns a loopback port free for both UDP and TCP (just now).
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free loopback port")
	return 0
}
