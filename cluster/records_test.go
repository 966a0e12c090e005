package cluster

import (
	"reflect"
	"strings"
	"testing"
)

// recordsSite is minimal with a node hostname and a records block.
var recordsSite = minimal + `    hostname: a.z.example.
records:
`

func TestRecords(t *testing.T) {
	s, err := Parse("f.yaml", []byte(recordsSite+`
  - {name: ns1, type: A, value: 192.0.2.53}
  - {name: ns1.z.example, type: aaaa, value: "2001:DB8::53"}
  - {name: www.z.example., type: A, value: 192.0.2.80, ttl: 60}
  - {name: status, type: CNAME, value: www}
  - {name: "@", type: MX, value: "10 mail.example.net"}
  - {name: "@", type: TXT, value: "v=spf1 -all"}
  - {name: _sip._tcp, type: SRV, value: "10 5 5060 www"}
  - {name: "@", type: CAA, value: '0 issue "letsencrypt.org"'}
  - {name: a, type: TXT, value: "a node's name can hold other types"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{"ns1.z.example.", "A", 300, "192.0.2.53"},
		{"ns1.z.example.", "AAAA", 300, "2001:db8::53"},
		{"www.z.example.", "A", 60, "192.0.2.80"},
		{"status.z.example.", "CNAME", 300, "www.z.example."},
		{"z.example.", "MX", 300, "10 mail.example.net."},
		{"z.example.", "TXT", 300, "v=spf1 -all"},
		{"_sip._tcp.z.example.", "SRV", 300, "10 5 5060 www.z.example."},
		{"z.example.", "CAA", 300, "0 issue letsencrypt.org"},
		{"a.z.example.", "TXT", 300, "a node's name can hold other types"},
	}
	if !reflect.DeepEqual(s.Records, want) {
		t.Errorf("records\n%v\nwant\n%v", s.Records, want)
	}
	if s.TTL.Records != 300 {
		t.Errorf("ttl.records %d", s.TTL.Records)
	}
}

func TestRecordErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"outside", "  - {name: www.other.example., type: A, value: 192.0.2.1}\n",
			`f.yaml:12:12: records[0].name: "www.other.example." is outside the zone z.example.`},
		{"bad name", "  - {name: \"w w\", type: A, value: 192.0.2.1}\n", `records[0].name: "w w" is not a valid host name`},
		{"no name", "  - {type: A, value: 192.0.2.1}\n", `f.yaml:12:5: records[0].name: required`},
		{"unknown type", "  - {name: www, type: HINFO, value: x}\n", `f.yaml:12:23: records[0].type: "HINFO": want one of A, AAAA`},
		{"ns", "  - {name: sub, type: NS, value: ns.other.example.}\n", `records[0].type: NS: the zone's name servers are the ns field`},
		{"soa", "  - {name: \"@\", type: SOA, value: x}\n", `records[0].type: SOA: the zone's SOA is the soa field`},
		{"bad A", "  - {name: www, type: A, value: 2001:db8::1}\n", `f.yaml:12:33: records[0].value: "2001:db8::1" is not an IPv4 address`},
		{"bad AAAA", "  - {name: www, type: AAAA, value: 192.0.2.1}\n", `records[0].value: "192.0.2.1" is not an IPv6 address`},
		{"bad MX", "  - {name: \"@\", type: MX, value: mail.example.net}\n", `records[0].value: "mail.example.net": want PREFERENCE HOST`},
		{"MX preference", "  - {name: \"@\", type: MX, value: 70000 mail.example.net}\n", `preference "70000" is not a whole number from 0 to 65535`},
		{"bad SRV", "  - {name: _x._tcp, type: SRV, value: 1 2 host}\n", `want PRIORITY WEIGHT PORT HOST`},
		{"bad CAA", "  - {name: \"@\", type: CAA, value: 0 is-sue x}\n", `tag "is-sue"`},
		{"traffic", "  - {name: traffic, type: TXT, value: x}\n",
			`f.yaml:12:12: records[0].name: traffic.z.example. is Meridian's: the traffic hostname`},
		{"below traffic", "  - {name: _turn._udp.traffic, type: SRV, value: 1 1 3478 a}\n", `is Meridian's`},
		{"support address", "  - {name: \"@\", type: A, value: 192.0.2.1}\n", `z.example. is the support hostname: Meridian answers its addresses`},
		{"node address", "  - {name: a, type: AAAA, value: 2001:db8::1}\n", `a.z.example. is the hostname of nodes[0]`},
		{"apex CNAME", "  - {name: \"@\", type: CNAME, value: www}\n", `support hostname`},
		{"CNAME and more", "  - {name: w, type: CNAME, value: www}\n  - {name: w, type: TXT, value: x}\n",
			`records[0]: w.z.example. has a CNAME and other records`},
		{"MX at CNAME", "  - {name: m, type: CNAME, value: www}\n  - {name: \"@\", type: MX, value: 10 m}\n",
			`records[1].value: target m.z.example. is a CNAME (records[0])`},
		{"twice", "  - {name: www, type: A, value: 192.0.2.1}\n  - {name: www.z.example., type: A, value: 192.0.2.1, ttl: 5}\n",
			`f.yaml:13:44: records[1]: www.z.example. A 192.0.2.1 is already listed at records[0]`},
		{"unknown field", "  - {name: www, type: A, value: 192.0.2.1, class: IN}\n", `records[0].class: unknown field`},
		{"control", "  - {name: www, type: TXT, value: \"a\\tb\"}\n", `control characters`},
		{"ttl", "  - {name: www, type: A, value: 192.0.2.1, ttl: -1}\n", `records[0].ttl: want a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(recordsSite+tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nlacks %q", err, tt.want)
			}
		})
	}
}
