// Package cluster holds Meridian's site model, its validation, the signed
// snapshot every subscriber receives, and the selection engine. It is pure:
// no network, no disk, no clock of its own. Callers pass bytes, keys and
// the current time in.
package cluster

import (
	"net/netip"
	"time"
)

// Method is how a site chooses a home node for a client whose address
// matches no node's network prefixes.
type Method string

// The selection methods a site may use.
const (
	MethodRandom   Method = "random"   // weighted rendezvous over all candidates
	MethodGeo      Method = "geo"      // nearest by great-circle distance
	MethodTimezone Method = "timezone" // closest UTC offset
	MethodSRV      Method = "srv"      // all candidates as SRV priority/weight
	MethodAnycast  Method = "anycast"  // the anycast address while announced, else geo
)

var methods = []Method{MethodRandom, MethodGeo, MethodTimezone, MethodSRV, MethodAnycast}

// Site is one validated support deployment. Host names are lower-case
// FQDNs with the trailing dot. A Site is never mutated after Parse.
type Site struct {
	Name            string      `json:"name"`
	Zone            string      `json:"zone"`
	SupportHostname string      `json:"support_hostname"`
	TrafficHostname string      `json:"traffic_hostname"`
	TTL             TTLs        `json:"ttl"`
	SOA             SOA         `json:"soa"`
	NS              []string    `json:"ns"`
	Masters         Masters     `json:"masters"`
	Selection       Selection   `json:"selection"`
	Health          HealthCheck `json:"health"`
	Relay           Relay       `json:"relay"`
	Nodes           []Node      `json:"nodes"`
	// Records are the zone's static records, served with the site's SOA
	// and NS (records.go).
	Records []Record `json:"records,omitempty"`
}

// TTLs are the answer TTLs of the names Meridian owns, in seconds.
type TTLs struct {
	Support  uint32 `json:"support"`  // support hostname (default 30)
	Traffic  uint32 `json:"traffic"`  // traffic hostname, kept short so failover is quick (default 20)
	Node     uint32 `json:"node"`     // canonical node names (default 300)
	SRV      uint32 `json:"srv"`      // relay SRV records (default 60)
	Negative uint32 `json:"negative"` // SOA minimum for NODATA/NXDOMAIN (default 30)
	Records  uint32 `json:"records"`  // static records without their own ttl (default 300)
}

// SOA is the start of authority of the site zone.
type SOA struct {
	MName   string `json:"mname"`   // default: first NS
	RName   string `json:"rname"`   // default: hostmaster.<zone>
	Refresh uint32 `json:"refresh"` // default 3600
	Retry   uint32 `json:"retry"`   // default 600
	Expire  uint32 `json:"expire"`  // default 86400
}

// Masters are the nodes running the director. The support hostname resolves
// to the primary while it is up, else to the backup ("DNS swing").
type Masters struct {
	Primary Master  `json:"primary"`
	Backup  *Master `json:"backup,omitempty"`
}

// Master is one director host.
type Master struct {
	Name     string      `json:"name"`
	IPv4     netip.Addr  `json:"ipv4"`
	IPv6     netip.Addr  `json:"ipv6"`
	Internal string      `json:"internal"` // host:port of its API, the health target
	Health   HealthCheck `json:"health"`
}

// Selection is the site's method and answer shape.
type Selection struct {
	Method  Method `json:"method"`
	Answers int    `json:"answers"` // addresses per answer for the traffic hostname (default 1)
	// Anycast addresses answered under MethodAnycast while at least one node
	// announces them.
	AnycastIPv4 netip.Addr `json:"anycast_ipv4"`
	AnycastIPv6 netip.Addr `json:"anycast_ipv6"`
}

// HealthKind is the kind of probe the director runs against a node.
type HealthKind string

// Probe kinds.
const (
	HealthTCP   HealthKind = "tcp"
	HealthHTTP  HealthKind = "http"
	HealthHTTPS HealthKind = "https"
	HealthTLS   HealthKind = "tls"
	HealthTURN  HealthKind = "turn"
)

var healthKinds = []HealthKind{HealthTCP, HealthHTTP, HealthHTTPS, HealthTLS, HealthTURN}

// HealthCheck is how and how often a node is probed. A node turns up after
// Rise successes in a row and down after Fall failures in a row.
type HealthCheck struct {
	Kind     HealthKind `json:"kind"`     // default http
	Target   string     `json:"target"`   // host:port; default the node's internal address
	Path     string     `json:"path"`     // http(s) only; default /healthz
	Expect   int        `json:"expect"`   // http(s) status; default 200
	Interval Duration   `json:"interval"` // default 1s
	Timeout  Duration   `json:"timeout"`  // default 500ms
	Rise     int        `json:"rise"`     // default 2
	Fall     int        `json:"fall"`     // default 3
}

// Relay is a TURN relay's listener and limit settings. Site-level values are
// defaults for every node; a node's own block overrides field by field.
type Relay struct {
	UDPPort int `json:"udp_port"` // default 3478
	TCPPort int `json:"tcp_port"` // default 3478
	TLSPort int `json:"tls_port"` // default 5349; used only with a certificate
	// Relayed ports are allocated from [PortMin, PortMax].
	PortMin int `json:"port_min"` // default 49152
	PortMax int `json:"port_max"` // default 65535
	// AllowPeers are peer prefixes allowed despite the deny-by-default classes.
	AllowPeers []netip.Prefix `json:"allow_peers"`
	// Quotas; 0 means unlimited.
	MaxAllocationsPerUser int    `json:"max_allocations_per_user"`
	MaxAllocations        int    `json:"max_allocations"`
	AllocationBPS         uint64 `json:"allocation_bps"` // bytes per second per allocation
	NodeBPS               uint64 `json:"node_bps"`       // bytes per second per node
}

// Node is one traffic node.
type Node struct {
	Name      string         `json:"name"`
	ID        string         `json:"id"`       // stable id; generated from the name when absent
	Hostname  string         `json:"hostname"` // canonical name, e.g. us-traffic1.support.example.com.
	IPv4      netip.Addr     `json:"ipv4"`
	IPv6      netip.Addr     `json:"ipv6"`
	Internal  string         `json:"internal"` // host:port of the node agent
	Region    string         `json:"region"`
	Lat       float64        `json:"lat"`
	Lon       float64        `json:"lon"`
	TimeZone  string         `json:"timezone"` // IANA zone, e.g. Europe/Berlin
	Weight    int            `json:"weight"`   // default 100
	Accepting bool           `json:"accepting"`
	Secondary bool           `json:"secondary"`
	Prefixes  []netip.Prefix `json:"prefixes"`
	Health    HealthCheck    `json:"health"`
	Relay     Relay          `json:"relay"`
	Anycast   []netip.Prefix `json:"anycast"`
	BGP       *BGP           `json:"bgp,omitempty"`
}

// Node returns the node with the given name, or nil.
func (s *Site) Node(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

// Duration is a time.Duration written as "250ms" in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
