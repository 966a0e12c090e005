package cluster

import "net/netip"

// BGP is a traffic node's anycast speaker configuration. The prefixes it
// announces are the node's Anycast list.
type BGP struct {
	ASN        uint32        `json:"asn"`
	RouterID   netip.Addr    `json:"router_id"`   // default: the node's public IPv4
	ListenAddr netip.Addr    `json:"listen_addr"` // only with ListenPort
	ListenPort int           `json:"listen_port"` // 0: do not listen, connect out
	Neighbors  []BGPNeighbor `json:"neighbors"`
	// Communities are standard ("65000:100") and large ("65000:1:2")
	// communities attached to every announcement.
	Communities      []string `json:"communities"`
	LargeCommunities []string `json:"large_communities"`
	// Prepend and MED make the network prefer other nodes; applied when the
	// node is secondary.
	Prepend int    `json:"prepend"`
	MED     uint32 `json:"med"`
	// GracefulShutdown is how long a planned withdraw advertises the
	// GRACEFUL_SHUTDOWN community (RFC 8326) before withdrawing (default 5s).
	GracefulShutdown Duration `json:"graceful_shutdown"`
	// MinAnnounceInterval is the least time between a withdraw and the next
	// announce, so a flapping node cannot flap the route (default 10s).
	MinAnnounceInterval Duration `json:"min_announce_interval"`
	// Command, when set, is an extra local check: a program and its
	// arguments, healthy when it exits 0 within the check timeout.
	Command []string `json:"command,omitempty"`
	// ConnectRetry is the wait between attempts to reach a neighbor
	// (default 5s; GoBGP's own 120s would keep a node dark for minutes).
	ConnectRetry Duration `json:"connect_retry"`
	// Check is the speaker's own local health check (the director is not
	// asked). Default: http on the node's health endpoint, 1s, rise 2, fall 3.
	Check HealthCheck `json:"check"`
}

// BGPNeighbor is one upstream router.
type BGPNeighbor struct {
	Address      netip.Addr `json:"address"`
	Port         int        `json:"port"` // default 179
	ASN          uint32     `json:"asn"`
	PasswordFile string     `json:"password_file"` // TCP MD5 password, read by the agent
	Multihop     int        `json:"multihop"`      // eBGP multihop TTL; 0: directly connected
	Hold         Duration   `json:"hold"`          // default 90s
	Keepalive    Duration   `json:"keepalive"`     // default 30s
	Passive      bool       `json:"passive"`
}
