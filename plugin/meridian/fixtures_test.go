package meridian

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"

	"github.com/meridian-traffic/meridian/cluster"
)

// testSite is the site of the tests. METHOD and the INTERNAL_ addresses
// (health targets) are replaced per test.
const testSite = `site: test
zone: support.example.com.
support_hostname: support.example.com.
traffic_hostname: traffic.support.example.com.
ns: [ns1.support.example.com., ns2.support.example.com.]
masters:
  primary:
    name: master1
    ipv4: 192.0.2.10
    ipv6: 2001:db8::10
    internal: INTERNAL_master1
    health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 1, fall: 3}
  backup:
    name: master2
    ipv4: 198.51.100.10
    ipv6: 2001:db8:1::10
    internal: INTERNAL_master2
    health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 1, fall: 3}
selection:
  method: METHOD
  answers: 1
  anycast_ipv4: 203.0.113.1
nodes:
  - name: us1
    hostname: us1.support.example.com.
    ipv4: 192.0.2.11
    ipv6: 2001:db8::11
    internal: INTERNAL_us1
    region: us
    lat: 34.05
    lon: -118.24
    timezone: America/Los_Angeles
    prefixes: [10.1.0.0/16]
    anycast: [203.0.113.0/24]
  - name: us2
    hostname: us2.support.example.com.
    ipv4: 192.0.2.12
    ipv6: 2001:db8::12
    internal: INTERNAL_us2
    region: us
    lat: 40.71
    lon: -74.01
    timezone: America/New_York
    anycast: [203.0.113.0/24]
  - name: eu1
    hostname: eu1.support.example.com.
    ipv4: 198.51.100.11
    ipv6: 2001:db8:1::11
    internal: INTERNAL_eu1
    region: eu
    lat: 50.11
    lon: 8.68
    timezone: Europe/Berlin
    prefixes: [10.2.0.0/16, 2001:db8:ee00::/40]
    anycast: [203.0.113.0/24]
  - name: eu2
    hostname: eu2.support.example.com.
    ipv4: 198.51.100.12
    internal: INTERNAL_eu2
    region: eu
    lat: 51.51
    lon: -0.13
    timezone: Europe/London
    weight: 50
    secondary: true
    anycast: [203.0.113.0/24]
records:
  - {name: ns1, type: A, value: 192.0.2.53}
  - {name: ns1, type: AAAA, value: "2001:db8::53"}
  - {name: ns2, type: A, value: 198.51.100.53}
  - {name: ns2, type: AAAA, value: "2001:db8:1::53"}
  - {name: www, type: A, value: 192.0.2.80}
  - {name: www, type: AAAA, value: "2001:db8::80"}
  - {name: status, type: CNAME, value: www}
  - {name: "@", type: MX, value: "10 mail.example.net."}
  - {name: "@", type: TXT, value: "v=spf1 -all"}
  - {name: _dmarc, type: TXT, value: "v=DMARC1; p=reject"}
`

// siteYAML returns the test site with a method and the health targets of
// its masters and nodes; missing ones are loopback ports nothing listens on
// (the handler tests set health in the snapshot directly).
func siteYAML(method cluster.Method, targets map[string]string) string {
	s := strings.Replace(testSite, "METHOD", string(method), 1)
	for i, name := range []string{"master1", "master2", "us1", "us2", "eu1", "eu2"} {
		addr, ok := targets[name]
		if !ok {
			addr = fmt.Sprintf("127.0.0.1:%d", i+1)
		}
		s = strings.Replace(s, "INTERNAL_"+name+"\n", addr+"\n", 1)
	}
	return s
}

// health is a test's node and master states; names not listed are up.
type health map[string]cluster.Health

// testSnapshot builds a snapshot of the test site with the given states.
func testSnapshot(t testing.TB, method cluster.Method, h health, announcing ...string) *cluster.Snapshot {
	t.Helper()
	site, err := cluster.Parse("test.yaml", []byte(siteYAML(method, nil)))
	if err != nil {
		t.Fatal(err)
	}
	state := func(name string) cluster.Health {
		if s, ok := h[name]; ok {
			return s
		}
		return cluster.Up
	}
	snap := &cluster.Snapshot{
		Format: cluster.SnapshotFormat, Site: site.Name, Version: 7, ConfigVersion: 3,
		Published: time.Now(), Config: site,
	}
	for _, n := range site.Nodes {
		ns := cluster.NodeState{Name: n.Name, Health: state(n.Name)}
		for _, a := range announcing {
			if a == n.Name {
				ns.Announcing = n.Anycast
			}
		}
		snap.Nodes = append(snap.Nodes, ns)
	}
	for _, m := range []string{"master1", "master2"} {
		snap.Masters = append(snap.Masters, cluster.MasterState{Name: m, Health: state(m)})
	}
	return snap
}

// tableLocator is a GeoIP stand-in for the handler tests: networks and
// where they are. The CoreDNS server tests use a real mmdb.
type tableLocator []struct {
	net netip.Prefix
	loc cluster.Location
}

func (l tableLocator) Locate(a netip.Addr) (cluster.Location, bool) {
	for _, e := range l {
		if e.net.Contains(a) {
			loc := e.loc
			loc.Network = e.net
			return loc, true
		}
	}
	return cluster.Location{}, false
}

// testLocator places three client networks.
var testLocator = tableLocator{
	{netip.MustParsePrefix("203.0.113.0/24"), cluster.Location{Lat: 48.85, Lon: 2.35, TimeZone: "Europe/Paris"}},               // Paris
	{netip.MustParsePrefix("198.18.0.0/15"), cluster.Location{Lat: 41.88, Lon: -87.63, TimeZone: "America/Chicago"}},           // Chicago
	{netip.MustParsePrefix("2001:db8:aa00::/40"), cluster.Location{Lat: 37.77, Lon: -122.42, TimeZone: "America/Los_Angeles"}}, // San Francisco
}

// testPlugin returns a handler serving snap, without a director.
func testPlugin(t testing.TB, snap *cluster.Snapshot, explain bool, fallZones ...string) *Meridian {
	t.Helper()
	cfg := Config{Zones: []string{"support.example.com."}, Explain: explain}
	if fallZones != nil {
		cfg.Fall = fall.F{}
		cfg.Fall.SetZonesFromArgs(fallZones)
	}
	m := New(cfg)
	m.view.Store(newView(snap, cluster.NewEngine(snap, testLocator), explain))
	return m
}

var _ plugin.Handler = (*Meridian)(nil)
