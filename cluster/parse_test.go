package cluster

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../zones/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("zones/example.yaml", data)
	if err != nil {
		t.Fatalf("example site does not validate:\n%v", err)
	}
	if s.Zone != "support.example.com." || s.TrafficHostname != "traffic.support.example.com." {
		t.Errorf("zone %q traffic %q", s.Zone, s.TrafficHostname)
	}
	if len(s.Nodes) != 4 {
		t.Fatalf("nodes = %d, want 4", len(s.Nodes))
	}
	n := s.Node("us-traffic1")
	if got := n.Prefixes[1]; got != netip.MustParsePrefix("172.16.0.0/12") {
		t.Errorf("dotted mask prefix = %s, want 172.16.0.0/12", got)
	}
	if s.Node("us-traffic2").Hostname != "us-traffic2.support.example.com." {
		t.Errorf("default hostname = %q", s.Node("us-traffic2").Hostname)
	}
	if id := s.Node("us-traffic2").ID; len(id) != 32 {
		t.Errorf("generated id %q, want 32 hex digits", id)
	}
	if h := s.Node("eu-traffic2").Health; h.Target != "10.0.1.12:7801" || h.Fall != 3 || h.Path != "/healthz" {
		t.Errorf("health defaults not applied: %+v", h)
	}
	if !s.Node("eu-traffic2").Secondary || !s.Node("eu-traffic2").Accepting {
		t.Errorf("secondary/accepting wrong")
	}
}

var minimal = testkit.MinimalSite

// TestParseErrors checks that every error names file, line, column and field.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{"non-contiguous mask", minimal + "    prefixes:\n      - 10.1.0.0/255.0.255.0\n",
			[]string{`f.yaml:11:9: nodes[0].prefixes[0]: "10.1.0.0/255.0.255.0" is not a contiguous netmask`}},
		{"host bits", minimal + "    prefixes: [10.1.2.3/16]\n",
			[]string{`f.yaml:10:16: nodes[0].prefixes[0]: "10.1.2.3/16" has host bits set (the network is 10.1.0.0/16)`}},
		{"unknown field", minimal + "    colour: blue\n",
			[]string{`f.yaml:10:5: nodes[0].colour: unknown field`}},
		{"unknown top field", "bogus: 1\n" + minimal,
			[]string{`f.yaml:1:1: bogus: unknown field`}},
		{"field twice", minimal + "    region: a\n    region: b\n",
			[]string{`f.yaml:11:5: nodes[0].region: field given twice`}},
		{"duplicate name", minimal + "  - name: a\n    ipv4: 192.0.2.12\n    internal: \"127.0.0.12:7801\"\n",
			[]string{`f.yaml:10:11: nodes[1].name: name "a" is already used by nodes[0].name`}},
		{"duplicate address", minimal + "  - name: b\n    ipv4: 192.0.2.11\n    internal: \"127.0.0.12:7801\"\n",
			[]string{`nodes[1].ipv4: address "192.0.2.11" is already used by nodes[0].ipv4`}},
		{"hostname outside zone", minimal + "    hostname: a.other.example.\n",
			[]string{`f.yaml:10:15: nodes[0].hostname: "a.other.example." is outside the zone z.example.`}},
		{"wrong type", minimal + "    weight: heavy\n",
			[]string{`f.yaml:10:13: nodes[0].weight: want a whole number`}},
		{"bad method", strings.Replace(minimal, "method: random", "method: nearest", 1),
			[]string{`f.yaml:5:21: selection.method: "nearest": want one of random, geo, timezone, srv, anycast`}},
		{"ipv6 in ipv4", minimal + "  - name: b\n    ipv4: 2001:db8::1\n    internal: \"127.0.0.12:7801\"\n",
			[]string{`nodes[1].ipv4: "2001:db8::1" is not an IPv4 address`}},
		{"geo needs location", strings.Replace(minimal, "method: random", "method: geo", 1),
			[]string{`nodes[0]: lat and lon are required by the geo method`}},
		{"bad timezone", minimal + "    timezone: Mars/Olympus\n",
			[]string{`nodes[0].timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"timeout over interval", minimal + "    health: {interval: 250ms, timeout: 1s}\n",
			[]string{`nodes[0].health.timeout: 1s is longer than the interval 250ms`}},
		{"list for mapping", minimal + "    health: [1, 2]\n",
			[]string{`f.yaml:10:13: nodes[0].health: expected a mapping of fields`}},
		{"several at once", minimal + "    weight: -1\n    lat: 200\n",
			[]string{`nodes[0].weight: -1 is out of range`, `nodes[0].lat: 200 is out of range`}},
		{"syntax", "site: [unclosed\n", []string{`f.yaml:2:1: did not find expected ',' or ']' (the [ opened at 1:7 is not closed)`}},
		{"outdent", minimal + "    lat: 1\n   lon: 2\n",
			[]string{`f.yaml:11:4: did not find expected '-' indicator (check the indentation: this line does not line up with the block that starts at 7:3)`}},
		{"outdent in a mapping", minimal + "    health:\n      interval: 1s\n     rise: 2\n",
			[]string{`f.yaml:12:6: did not find expected key (check the indentation: this line does not line up with the block that starts at 7:5)`}},
		{"unclosed bracket", minimal + "    prefixes: [10.1.0.0/16\n    region: eu\n",
			[]string{`f.yaml:11:11: did not find expected ',' or ']' (the [ opened at 10:15 is not closed)`}},
		{"unclosed quote", minimal + "    region: \"eu\n    weight: 2\n",
			[]string{`f.yaml:12:1: found unexpected end of stream (the quote opened at 10:13 is not closed)`}},
		{"tab", minimal + "\tregion: eu\n",
			[]string{`f.yaml:10:1: found character that cannot start any token (indent with spaces: YAML does not allow tabs in indentation)`}},
		{"too large", minimal + "# " + strings.Repeat("x", MaxSiteFile) + "\n",
			[]string{`f.yaml: site file is 262`, `more than the limit of 262144 (256 KiB)`}},
		{"empty", "", []string{`f.yaml: empty site file`}},
		{"no nodes", "site: t\nzone: z.example.\nmasters:\n  primary: {name: m1, ipv4: 192.0.2.1, internal: \"127.0.0.1:7700\"}\n",
			[]string{`nodes: at least one traffic node is required`}},
		{"anycast address uncovered", strings.Replace(minimal, "method: random", "{method: anycast, anycast_ipv4: 203.0.113.1}", 1)[:0] +
			"site: t\nzone: z.example.\nmasters:\n  primary: {name: m1, ipv4: 192.0.2.1, internal: \"127.0.0.1:7700\"}\nselection: {method: anycast, anycast_ipv4: 203.0.113.1}\nnodes:\n  - {name: a, ipv4: 192.0.2.11, internal: \"127.0.0.11:7801\", lat: 1, lon: 1}\n",
			[]string{`selection.anycast_ipv4: 203.0.113.1 lies in no node's anycast prefix`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted a bad site file")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestParseMinimal(t *testing.T) {
	s, err := Parse("f.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if s.SupportHostname != "z.example." || s.TrafficHostname != "traffic.z.example." || s.SOA.MName != "ns1.z.example." {
		t.Errorf("defaults: support %q traffic %q mname %q", s.SupportHostname, s.TrafficHostname, s.SOA.MName)
	}
	if s.Nodes[0].Weight != 100 || !s.Nodes[0].Accepting || s.Selection.Answers != 1 {
		t.Errorf("node defaults: %+v", s.Nodes[0])
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"10.1.0.0/16", "10.1.0.0/16", ""},
		{"10.1.0.0/255.255.0.0", "10.1.0.0/16", ""},
		{"10.1.2.3", "10.1.2.3/32", ""},
		{"0.0.0.0/0.0.0.0", "0.0.0.0/0", ""},
		{"10.1.2.3/255.255.255.255", "10.1.2.3/32", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"10.1.0.0/255.0.255.0", "", "not a contiguous netmask"},
		{"10.1.0.0/0.0.255.255", "", "not a contiguous netmask"},
		{"10.1.2.3/16", "", "host bits set"},
		{"10.1.0.0/33", "", "out of range"},
		{"2001:db8::/129", "", "out of range"},
		{"2001:db8::/255.255.0.0", "", "needs an IPv4 address"},
		{"10.1.0.0/", "", "empty prefix length"},
		{"10.1.0.0/abc", "", "neither a prefix length nor a dotted netmask"},
		{"fe80::1%eth0", "", "zone is not allowed"},
		{"::ffff:10.0.0.0/104", "", "IPv4-mapped"},
		{"example.com", "", "is not an IP address"},
		{"", "", "is not an IP address"},
	}
	for _, tt := range tests {
		p, err := ParsePrefix(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePrefix(%q) = %v, %v; want error with %q", tt.in, p, err, tt.err)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

// TestParseBounded feeds hostile files: the problems listed are capped with
// the total counted, aliases cannot make the work explode, and the answer
// stays small.
func TestParseBounded(t *testing.T) {
	many := minimal + "    colour: blue\n"
	for i := 0; i < 500; i++ {
		many += fmt.Sprintf("  - {name: n%d, ipv4: 192.0.2.11, internal: \"127.0.0.11:7801\", colour: x}\n", i)
	}
	// One node with a thousand prefixes, listed 20,000 times by alias: 20
	// million nodes once expanded, from a file of about 100 KB.
	bomb := strings.Replace(minimal, "nodes:\n", "x: &p [10.0.0.0/8"+strings.Repeat(", 10.0.0.0/8", 999)+"]\n"+
		"y: &n {name: a, ipv4: 192.0.2.11, internal: \"127.0.0.11:7801\", prefixes: *p}\nnodes:\n", 1) +
		"  - *n\n" + strings.Repeat("  - *n\n", 20_000)
	tests := []struct {
		name string
		yaml string
		want string // in the error text
	}{
		{"many problems", many, "more problems"},
		{"alias bomb", bomb, "the file expands to more than 200000 YAML nodes (aliases?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if len(ve.Errors) > MaxProblems {
				t.Errorf("%d problems listed, want at most %d", len(ve.Errors), MaxProblems)
			}
			if len(err.Error()) > 64<<10 {
				t.Errorf("error text is %d bytes", len(err.Error()))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%d of %d problems listed, none says %q:\n%.2000s", len(ve.Errors), ve.Count(), tt.want, err)
			}
		})
	}
}
