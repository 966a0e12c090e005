package cluster

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

// bgpSite is a node with a speaker; the tests append to its neighbor or
// replace lines.
var bgpSite = testkit.MinimalSite + `    anycast: [203.0.113.0/24]
    bgp:
      asn: 65101
      neighbors:
        - address: 192.0.2.1
          asn: 65000
`

// TestParseBGP: the site refuses every speaker setting the speaker would
// refuse, with its position.
func TestParseBGP(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "" for valid
	}{
		{"valid", bgpSite, ""},
		{"asn zero", strings.Replace(bgpSite, "asn: 65101", "asn: 0", 1),
			`f.yaml:12:12: nodes[0].bgp.asn: 0: want 1-4294967294`},
		{"asn as_trans", strings.Replace(bgpSite, "asn: 65101", "asn: 23456", 1),
			`f.yaml:12:12: nodes[0].bgp.asn: 23456 is AS_TRANS, reserved`},
		{"asn 65535", strings.Replace(bgpSite, "asn: 65101", "asn: 65535", 1),
			`f.yaml:12:12: nodes[0].bgp.asn: 65535 is reserved`},
		{"asn last", strings.Replace(bgpSite, "asn: 65101", "asn: 4294967295", 1),
			`f.yaml:12:12: nodes[0].bgp.asn: 4294967295 is reserved`},
		{"neighbor asn reserved", strings.Replace(bgpSite, "asn: 65000", "asn: 23456", 1),
			`f.yaml:15:16: nodes[0].bgp.neighbors[0].asn: 23456 is AS_TRANS, reserved`},
		{"asn missing", strings.Replace(bgpSite, "      asn: 65101\n", "", 1),
			`f.yaml:12:7: nodes[0].bgp.asn: required`},
		{"neighbor twice", bgpSite + "        - {address: 192.0.2.1, asn: 65001}\n",
			`f.yaml:16:21: nodes[0].bgp.neighbors[1].address: 192.0.2.1 is listed twice (also neighbors[0])`},
		{"neighbor twice, mapped", bgpSite + "        - {address: \"::ffff:192.0.2.1\", asn: 65001}\n",
			`nodes[0].bgp.neighbors[1].address: 192.0.2.1 is listed twice`},
		{"ipv6 anycast, ipv4 neighbors", strings.Replace(bgpSite, "[203.0.113.0/24]", "[203.0.113.0/24, 2001:db8:ac::/48]", 1),
			`f.yaml:10:31: nodes[0].anycast[1]: 2001:db8:ac::/48 is IPv6 but every bgp neighbor is IPv4`},
		{"ipv6 anycast, ipv6 neighbor", strings.Replace(bgpSite, "[203.0.113.0/24]", "[203.0.113.0/24, 2001:db8:ac::/48]", 1) +
			"        - {address: \"2001:db8::1\", asn: 65000}\n", ""},
		{"ipv4 anycast, ipv6 neighbors", strings.Replace(bgpSite, "address: 192.0.2.1", `address: "2001:db8::1"`, 1),
			`nodes[0].anycast[0]: 203.0.113.0/24 is IPv4 but every bgp neighbor is IPv6`},
		{"hold too short", bgpSite + "          hold: 1s\n          keepalive: 500ms\n",
			`f.yaml:16:17: nodes[0].bgp.neighbors[0].hold: 1s: want at least 3s`},
		{"keepalive over default hold", bgpSite + "          keepalive: 90s\n",
			`f.yaml:16:22: nodes[0].bgp.neighbors[0].keepalive: 1m30s must be shorter than hold 1m30s`},
		{"keepalive unset over hold", bgpSite + "          hold: 20s\n",
			`f.yaml:14:11: nodes[0].bgp.neighbors[0].keepalive: 30s must be shorter than hold 20s`},
		{"prepend", strings.Replace(bgpSite, "asn: 65101", "asn: 65101\n      prepend: 17", 1),
			`nodes[0].bgp.prepend: 17 is out of range 0-16`},
		{"connect retry", strings.Replace(bgpSite, "asn: 65101", "asn: 65101\n      connect_retry: 100ms", 1),
			`nodes[0].bgp.connect_retry: 100ms is shorter than the least allowed 1s`},
		{"community", strings.Replace(bgpSite, "asn: 65101", "asn: 65101\n      communities: [\"65536:1\"]", 1),
			`nodes[0].bgp.communities[0]: "65536:1": want ASN:VALUE`},
		{"check interval", strings.Replace(bgpSite, "asn: 65101", "asn: 65101\n      check: {interval: 5ms}", 1),
			`nodes[0].bgp.check.interval: 5ms is shorter than the least allowed 10ms`},
		{"no neighbors", strings.Split(bgpSite, "      neighbors:")[0] + "      neighbors: []\n",
			`nodes[0].bgp.neighbors: at least one neighbor is required`},
		{"no anycast", strings.Replace(bgpSite, "    anycast: [203.0.113.0/24]\n", "", 1),
			`f.yaml:11:7: nodes[0].bgp: a BGP speaker needs the node's anycast prefixes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid site refused:\n%v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nlacks %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d problems for one mistake:\n%v", n, err)
			}
		})
	}
}

// TestValidateBGP: a speaker built by hand meets the same rules, without
// positions.
func TestValidateBGP(t *testing.T) {
	good := func() (BGP, []netip.Prefix) {
		b := DefaultBGP()
		b.ASN, b.RouterID = 65101, netip.MustParseAddr("192.0.2.11")
		b.Check.Target = "127.0.0.1:7801"
		nb := DefaultBGPNeighbor()
		nb.Address, nb.ASN = netip.MustParseAddr("192.0.2.1"), 65000
		b.Neighbors = []BGPNeighbor{nb}
		return b, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	}
	tests := []struct {
		name   string
		mutate func(*BGP, *[]netip.Prefix)
		want   string // "" for valid
	}{
		{"valid", func(*BGP, *[]netip.Prefix) {}, ""},
		{"asn reserved", func(b *BGP, _ *[]netip.Prefix) { b.ASN = 65535 }, "bgp.asn: 65535 is reserved"},
		{"router id ipv6", func(b *BGP, _ *[]netip.Prefix) { b.RouterID = netip.MustParseAddr("2001:db8::1") }, `bgp.router_id: "2001:db8::1" is not an IPv4 address`},
		{"neighbor twice", func(b *BGP, _ *[]netip.Prefix) { b.Neighbors = append(b.Neighbors, b.Neighbors[0]) }, "bgp.neighbors[1].address: 192.0.2.1 is listed twice"},
		{"hold zero", func(b *BGP, _ *[]netip.Prefix) { b.Neighbors[0].Hold = 0 }, "bgp.neighbors[0].hold: 0s: want at least 3s"},
		{"no defaults", func(b *BGP, _ *[]netip.Prefix) { b.ConnectRetry = 0 }, "bgp.connect_retry: 0s is shorter"},
		{"check kind", func(b *BGP, _ *[]netip.Prefix) { b.Check.Kind = "icmp" }, `bgp.check.kind: "icmp"`},
		{"host bits", func(_ *BGP, a *[]netip.Prefix) { *a = []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")} }, "anycast[0]: 203.0.113.1/24 has host bits set"},
		{"mapped prefix", func(_ *BGP, a *[]netip.Prefix) { *a = []netip.Prefix{netip.MustParsePrefix("::ffff:203.0.113.0/120")} }, "IPv4-mapped"},
		{"ipv6 over ipv4", func(_ *BGP, a *[]netip.Prefix) { *a = append(*a, netip.MustParsePrefix("2001:db8::/48")) }, "anycast[1]: 2001:db8::/48 is IPv6 but every bgp neighbor is IPv4"},
		{"no anycast", func(_ *BGP, a *[]netip.Prefix) { *a = nil }, "bgp: a BGP speaker needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, anycast := good()
			tt.mutate(&b, &anycast)
			err := ValidateBGP(&b, anycast)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateBGP: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestDefaultsTable: Parse fills what a file leaves out from the one table.
func TestDefaultsTable(t *testing.T) {
	s, err := Parse("f.yaml", []byte(bgpSite))
	if err != nil {
		t.Fatal(err)
	}
	n := s.Nodes[0]
	if s.TTL != defaultTTL || s.Selection.Answers != defaultSelection.Answers || n.Weight != defaultNode.Weight ||
		n.TimeZone != defaultNode.TimeZone || n.Relay.UDPPort != DefaultTURNPort || n.Relay.PortMin != DefaultRelayPortMin {
		t.Errorf("site defaults: %+v", s)
	}
	b := n.BGP
	if b.ConnectRetry != Duration(5*time.Second) || b.GracefulShutdown != defaultBGP.GracefulShutdown ||
		b.Neighbors[0].Port != 179 || b.Neighbors[0].Hold != defaultNeighbor.Hold || b.Neighbors[0].Keepalive != defaultNeighbor.Keepalive {
		t.Errorf("bgp defaults: %+v", b)
	}
	want := defaultHealth
	want.Target = n.Internal
	if b.Check != want {
		t.Errorf("bgp check %+v, want %+v", b.Check, want)
	}
	if err := ValidateBGP(b, n.Anycast); err != nil {
		t.Errorf("a parsed speaker fails ValidateBGP: %v", err)
	}
}
