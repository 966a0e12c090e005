package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/health"
)

// validConfig is a speaker built by hand, complete with the site's
// defaults as a site file would give it.
func validConfig() Config {
	b := cluster.DefaultBGP()
	b.ASN, b.RouterID = 65101, netip.MustParseAddr("192.0.2.11")
	b.Check.Target = "127.0.0.1:7801"
	v4, v6 := cluster.DefaultBGPNeighbor(), cluster.DefaultBGPNeighbor()
	v4.Address, v4.ASN = netip.MustParseAddr("192.0.2.1"), 65000
	v6.Address, v6.ASN = netip.MustParseAddr("2001:db8::1"), 65000
	b.Neighbors = []cluster.BGPNeighbor{v4, v6}
	return Config{
		BGP:     b,
		Anycast: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:ac::/48")},
	}
}

// TestNewErrors: each bad setting gets its sentinel and a message naming
// the input.
func TestNewErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
		msg    string
	}{
		{"asn zero", func(c *Config) { c.BGP.ASN = 0 }, ErrASN, "bgp.asn: 0"},
		{"asn as_trans", func(c *Config) { c.BGP.ASN = 23456 }, ErrASN, "AS_TRANS"},
		{"asn reserved", func(c *Config) { c.BGP.ASN = 4294967295 }, ErrASN, "reserved"},
		{"neighbor asn zero", func(c *Config) { c.BGP.Neighbors[0].ASN = 0 }, ErrASN, "bgp.neighbors[0].asn: 0"},
		{"no prefixes", func(c *Config) { c.Anycast = nil }, ErrPrefix, "anycast prefixes"},
		{"invalid prefix", func(c *Config) { c.Anycast = []netip.Prefix{{}} }, ErrPrefix, "not a prefix"},
		{"host bits", func(c *Config) { c.Anycast = []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")} }, ErrPrefix, "203.0.113.0/24"},
		{"mapped prefix", func(c *Config) { c.Anycast = []netip.Prefix{netip.MustParsePrefix("::ffff:203.0.113.0/120")} }, ErrPrefix, "IPv4-mapped"},
		{"ipv6 prefix, ipv4 neighbors", func(c *Config) { c.BGP.Neighbors = c.BGP.Neighbors[:1] }, ErrPrefix, "anycast[1]: 2001:db8:ac::/48 is IPv6 but every bgp neighbor is IPv4"},
		{"unknown check kind", func(c *Config) { c.BGP.Check.Kind = "icmp" }, ErrOption, `"icmp"`},
		{"turn without probe", func(c *Config) { c.BGP.Check.Kind = cluster.HealthTURN }, ErrOption, "relay's probe"},
		{"check target", func(c *Config) { c.BGP.Check.Target = "nowhere" }, ErrOption, `"nowhere"`},
		{"timeout over interval", func(c *Config) {
			c.BGP.Check.Interval, c.BGP.Check.Timeout = cluster.Duration(time.Second), cluster.Duration(2*time.Second)
		}, ErrOption, "timeout"},
		{"check not defaulted", func(c *Config) { c.BGP.Check.Interval = 0 }, ErrOption, "bgp.check.interval"},
		{"probe without func", func(c *Config) { c.Probes = []health.Probe{{Name: "relay"}} }, ErrOption, `"relay"`},
		{"community", func(c *Config) { c.BGP.Communities = []string{"65536:1"} }, ErrOption, `"65536:1"`},
		{"large community", func(c *Config) { c.BGP.LargeCommunities = []string{"1:2"} }, ErrOption, `"1:2"`},
		{"router id", func(c *Config) { c.BGP.RouterID = netip.MustParseAddr("2001:db8::1") }, ErrOption, "router_id"},
		{"listen port", func(c *Config) { c.BGP.ListenPort = 70000 }, ErrOption, "listen_port: 70000"},
		{"neighbor twice", func(c *Config) { c.BGP.Neighbors = append(c.BGP.Neighbors, c.BGP.Neighbors[0]) }, ErrOption, "twice"},
		{"no neighbors", func(c *Config) { c.BGP.Neighbors = nil }, ErrOption, "at least one neighbor"},
		{"hold too short", func(c *Config) { c.BGP.Neighbors[0].Hold = cluster.Duration(time.Second) }, ErrOption, "hold: 1s"},
		{"hold not defaulted", func(c *Config) { c.BGP.Neighbors[0].Hold = 0 }, ErrOption, "hold: 0s"},
		{"keepalive over hold", func(c *Config) {
			c.BGP.Neighbors[0].Hold, c.BGP.Neighbors[0].Keepalive = cluster.Duration(9*time.Second), cluster.Duration(9*time.Second)
		}, ErrOption, "keepalive"},
		{"connect retry not defaulted", func(c *Config) { c.BGP.ConnectRetry = 0 }, ErrOption, "connect_retry"},
		{"negative wiring retry", func(c *Config) { c.ConnectRetry = -time.Second }, ErrOption, "negative"},
		{"missing password file", func(c *Config) { c.BGP.Neighbors[0].PasswordFile = missing }, ErrPassword, missing},
		{"empty password file", func(c *Config) { c.BGP.Neighbors[0].PasswordFile = empty }, ErrPassword, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mutate(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
	if _, err := New(validConfig()); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

// TestPasswordNotInErrors: a password file's content never reaches an error.
func TestPasswordNotInErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	secret := strings.Repeat("topsecret", 10) // too long for TCP MD5
	if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := validConfig()
	cfg.BGP.Neighbors[0].PasswordFile = file
	_, err := New(cfg)
	if !errors.Is(err, ErrPassword) || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("error %q: want ErrPassword without the content", err)
	}
}

// TestSiteOptions: the site file is where an unknown neighbor option is
// caught, with its line; a valid bgp block becomes a speaker Config.
func TestSiteOptions(t *testing.T) {
	site := `site: t
zone: z.example.
masters:
  primary: {name: m1, ipv4: 192.0.2.1, internal: "127.0.0.1:7700"}
selection: {method: anycast, anycast_ipv4: 203.0.113.1}
nodes:
  - name: a
    ipv4: 192.0.2.11
    internal: "127.0.0.11:7801"
    lat: 34.05
    lon: -118.24
    secondary: true
    anycast: [203.0.113.0/24]
    bgp:
      asn: 65101
      prepend: 2
      med: 50
      neighbors:
        - address: 192.0.2.1
          asn: 65000
`
	s, err := cluster.Parse("site.yaml", []byte(site))
	if err != nil {
		t.Fatal(err)
	}
	cfg, ok := NodeConfig(s.Node("a"))
	if !ok || !cfg.Secondary || cfg.BGP.Prepend != 2 || cfg.Anycast[0] != netip.MustParsePrefix("203.0.113.0/24") {
		t.Fatalf("NodeConfig: %+v %v", cfg, ok)
	}
	if _, err := New(cfg); err != nil {
		t.Fatalf("New from the site: %v", err)
	}
	_, err = cluster.Parse("site.yaml", []byte(site+"          colour: blue\n"))
	line := fmt.Sprintf("site.yaml:%d:", strings.Count(site, "\n")+1)
	if err == nil || !strings.Contains(err.Error(), line) || !strings.Contains(err.Error(), "colour: unknown field") {
		t.Errorf("unknown neighbor option: %v, want %s ... colour: unknown field", err, line)
	}
	if _, ok := NodeConfig(&cluster.Node{}); ok {
		t.Error("NodeConfig of a node without bgp: ok")
	}
}

// TestMetricsRegisterer: metrics go to the given registerer only, and a
// second speaker on the same one is refused, not panicking.
func TestMetricsRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := validConfig()
	cfg.Registerer = reg
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil {
		t.Error("second speaker on one registerer: no error")
	}
	mfs, _ := reg.Gather()
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"meridian_bgp_announced_prefixes", "meridian_bgp_announces_total", "meridian_bgp_local_healthy"} {
		if !names[n] {
			t.Errorf("%s not registered", n)
		}
	}
}

// TestCheckOnce: a round of the speaker's local checks passes when every
// probe does, names the first failing probe and is bounded by the timeout.
// The probes themselves are tested in package health.
func TestCheckOnce(t *testing.T) {
	ok := newHealthTarget(t)
	dead := func() string { // a port that was just closed
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	wrong := newHealthTarget(t)
	wrong.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mainProbe := func(hc cluster.HealthCheck) health.Probe {
		p, err := health.ForCheck(hc, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		probes []health.Probe
		ok     bool
		failed string // name of the failing probe
	}{
		{"http up", []health.Probe{mainProbe(cluster.HealthCheck{Target: ok.addr})}, true, ""},
		{"http down", []health.Probe{mainProbe(cluster.HealthCheck{Target: dead})}, false, "http " + dead + "/healthz"},
		{"http 503", []health.Probe{mainProbe(cluster.HealthCheck{Target: wrong.addr})}, false, "http " + wrong.addr + "/healthz"},
		{"tcp and command", []health.Probe{health.TCP(ok.addr), health.Command("true")}, true, ""},
		{"command fails after tcp", []health.Probe{health.TCP(ok.addr), health.Command("false")}, false, "command false"},
		{"command too slow", []health.Probe{health.Command("sleep", "5")}, false, "command sleep"},
		{"command missing", []health.Probe{health.Command(filepath.Join(t.TempDir(), "nope"))}, false, "command "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := checkSettings{timeout: 300 * time.Millisecond, probes: tt.probes}
			start := time.Now()
			r := checkOnce(context.Background(), cs)
			if r.ok != tt.ok {
				t.Errorf("ok = %v (%s), want %v", r.ok, r.detail, tt.ok)
			}
			if !r.ok && !strings.HasPrefix(r.detail, tt.failed) {
				t.Errorf("detail %q does not name the probe %q", r.detail, tt.failed)
			}
			if (r.err() == nil) != r.ok {
				t.Errorf("err() = %v with ok %v", r.err(), r.ok)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("check took %s, want it bounded by the timeout", d)
			}
		})
	}
}

func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65000:100", "65535:0", "65536:1", ":", "1:2:3", "-1:2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseCommunity(s)
		if err != nil {
			return
		}
		// What was accepted prints back to the same value.
		again, err := parseCommunity(itoa(int(v>>16)) + ":" + itoa(int(v&0xffff)))
		if err != nil || again != v {
			t.Errorf("parseCommunity(%q) = %#x, round trip %#x, %v", s, v, again, err)
		}
	})
}
