package cluster

import "time"

// The site model's defaults, in one place. Parse fills every field a site
// file leaves out from this table, so a validated Site is complete: the
// parts (director, relay, speaker, DNS plugin) read their settings from it
// and never default a site value again. zones/README.md documents the same
// values; change both together.
//
// Defaults that depend on other fields are applied in validate.go next to
// the field and listed here for reference:
//
//	support_hostname        the zone
//	traffic_hostname        traffic.<zone>
//	ns                      [ns1.<zone>]
//	soa.mname               the first ns
//	soa.rname               hostmaster.<zone>
//	records[].ttl           ttl.records
//	nodes[].id              derived from the site and node names
//	nodes[].hostname        <name>.<zone>
//	nodes[].health          the site's health block, target the node's internal
//	nodes[].relay           the site's relay block, field by field
//	masters.*.health.target the master's internal
//	bgp.router_id           the node's ipv4
//	bgp.check.target        the node's internal
//	health.timeout          the default, but never longer than the interval
var (
	defaultTTL = TTLs{Support: 30, Traffic: 20, Node: 300, SRV: 60, Negative: 30, Records: 300}

	defaultSOA = SOA{Refresh: 3600, Retry: 600, Expire: 86400}

	defaultSelection = Selection{Method: MethodGeo, Answers: 1}

	defaultHealth = HealthCheck{
		Kind: HealthHTTP, Path: "/healthz", Expect: 200,
		Interval: Duration(time.Second), Timeout: Duration(500 * time.Millisecond),
		Rise: 2, Fall: 3,
	}

	defaultRelay = Relay{
		UDPPort: DefaultTURNPort, TCPPort: DefaultTURNPort, TLSPort: DefaultTURNSPort,
		PortMin: DefaultRelayPortMin, PortMax: DefaultRelayPortMax,
		// AllowPeers none; quotas 0: unlimited.
	}

	defaultNode = Node{TimeZone: "UTC", Weight: 100, Accepting: true}

	defaultBGP = BGP{
		// GoBGP's own connect retry of 120s would keep a node dark for minutes.
		GracefulShutdown:    Duration(5 * time.Second),
		MinAnnounceInterval: Duration(10 * time.Second),
		ConnectRetry:        Duration(5 * time.Second),
		Check:               defaultHealth,
	}

	defaultNeighbor = BGPNeighbor{Port: 179, Hold: Duration(90 * time.Second), Keepalive: Duration(30 * time.Second)}
)

// Relay ports of the default table, for callers that build a relay outside
// a site (the standalone relay command, tests).
const (
	DefaultTURNPort     = 3478  // relay.udp_port and relay.tcp_port
	DefaultTURNSPort    = 5349  // relay.tls_port
	DefaultRelayPortMin = 49152 // relay.port_min
	DefaultRelayPortMax = 65535 // relay.port_max
)

// DefaultRelay returns the relay block of a site file that sets none.
func DefaultRelay() Relay { return defaultRelay }

// DefaultHealth returns the health block of a site file that sets none
// (no target: a node's or master's internal address fills it).
func DefaultHealth() HealthCheck { return defaultHealth }

// DefaultBGP returns a bgp block with every default a site file may leave
// out; ASN, router id and neighbors have none.
func DefaultBGP() BGP { return defaultBGP }

// DefaultBGPNeighbor returns a neighbor with every default a site file may
// leave out; address and ASN have none.
func DefaultBGPNeighbor() BGPNeighbor { return defaultNeighbor }
