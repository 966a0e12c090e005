package cluster

import "go.yaml.in/yaml/v4"

// The raw types mirror the YAML site file. Every scalar is a val, which
// remembers where it stood so that validation can name file, line, column
// and field. Struct fields carry yaml tags; the key check in parse.go walks
// the same tags, so a field added here is accepted there at once.

// pos is a place in the site file.
type pos struct{ line, col int }

// val is one scalar of the site file and its position.
type val[T any] struct {
	v   T
	p   pos
	set bool
	err error // a value of the wrong type, reported by validation with its path
}

func (v *val[T]) UnmarshalYAML(n *yaml.Node) error {
	v.p, v.set = pos{n.Line, n.Column}, true
	if n.Kind != yaml.ScalarNode {
		v.err = errNotScalar
		return nil
	}
	if err := n.Decode(&v.v); err != nil {
		v.err = errWrongType
	}
	return nil
}

func (val[T]) leaf() {}

// leaf marks val types for the key walk: it does not descend into them.
type leaf interface{ leaf() }

type rawSite struct {
	Site            val[string]    `yaml:"site"`
	Zone            val[string]    `yaml:"zone"`
	SupportHostname val[string]    `yaml:"support_hostname"`
	TrafficHostname val[string]    `yaml:"traffic_hostname"`
	TTL             rawTTL         `yaml:"ttl"`
	SOA             rawSOA         `yaml:"soa"`
	NS              []val[string]  `yaml:"ns"`
	Masters         rawMasters     `yaml:"masters"`
	Selection       rawSelection   `yaml:"selection"`
	Health          rawHealthCheck `yaml:"health"`
	Relay           rawRelay       `yaml:"relay"`
	Nodes           []rawNode      `yaml:"nodes"`
	Records         []rawRecord    `yaml:"records"`
}

type rawTTL struct {
	Support  val[uint32] `yaml:"support"`
	Traffic  val[uint32] `yaml:"traffic"`
	Node     val[uint32] `yaml:"node"`
	SRV      val[uint32] `yaml:"srv"`
	Negative val[uint32] `yaml:"negative"`
	Records  val[uint32] `yaml:"records"`
}

type rawSOA struct {
	MName   val[string] `yaml:"mname"`
	RName   val[string] `yaml:"rname"`
	Refresh val[uint32] `yaml:"refresh"`
	Retry   val[uint32] `yaml:"retry"`
	Expire  val[uint32] `yaml:"expire"`
}

type rawMasters struct {
	Primary *rawMaster `yaml:"primary"`
	Backup  *rawMaster `yaml:"backup"`
}

type rawMaster struct {
	Name     val[string]    `yaml:"name"`
	IPv4     val[string]    `yaml:"ipv4"`
	IPv6     val[string]    `yaml:"ipv6"`
	Internal val[string]    `yaml:"internal"`
	Health   rawHealthCheck `yaml:"health"`
}

type rawSelection struct {
	Method      val[string] `yaml:"method"`
	Answers     val[int]    `yaml:"answers"`
	AnycastIPv4 val[string] `yaml:"anycast_ipv4"`
	AnycastIPv6 val[string] `yaml:"anycast_ipv6"`
}

type rawHealthCheck struct {
	Kind     val[string] `yaml:"kind"`
	Target   val[string] `yaml:"target"`
	Path     val[string] `yaml:"path"`
	Expect   val[int]    `yaml:"expect"`
	Interval val[string] `yaml:"interval"`
	Timeout  val[string] `yaml:"timeout"`
	Rise     val[int]    `yaml:"rise"`
	Fall     val[int]    `yaml:"fall"`
	at       pos         // the block's own mapping, when the file has one
}

// UnmarshalYAML keeps the block's own position, for problems of a field the
// file leaves out.
func (r *rawHealthCheck) UnmarshalYAML(n *yaml.Node) error {
	type plain rawHealthCheck
	return decodeAt(n, (*plain)(r), &r.at)
}

type rawRelay struct {
	UDPPort               val[int]      `yaml:"udp_port"`
	TCPPort               val[int]      `yaml:"tcp_port"`
	TLSPort               val[int]      `yaml:"tls_port"`
	PortMin               val[int]      `yaml:"port_min"`
	PortMax               val[int]      `yaml:"port_max"`
	AllowPeers            []val[string] `yaml:"allow_peers"`
	MaxAllocationsPerUser val[int]      `yaml:"max_allocations_per_user"`
	MaxAllocations        val[int]      `yaml:"max_allocations"`
	AllocationBPS         val[uint64]   `yaml:"allocation_bps"`
	NodeBPS               val[uint64]   `yaml:"node_bps"`
}

type rawNode struct {
	Name      val[string]    `yaml:"name"`
	ID        val[string]    `yaml:"id"`
	Hostname  val[string]    `yaml:"hostname"`
	IPv4      val[string]    `yaml:"ipv4"`
	IPv6      val[string]    `yaml:"ipv6"`
	Internal  val[string]    `yaml:"internal"`
	Region    val[string]    `yaml:"region"`
	Lat       val[float64]   `yaml:"lat"`
	Lon       val[float64]   `yaml:"lon"`
	TimeZone  val[string]    `yaml:"timezone"`
	Weight    val[int]       `yaml:"weight"`
	Accepting val[bool]      `yaml:"accepting"`
	Secondary val[bool]      `yaml:"secondary"`
	Prefixes  []val[string]  `yaml:"prefixes"`
	Health    rawHealthCheck `yaml:"health"`
	Relay     rawRelay       `yaml:"relay"`
	Anycast   []val[string]  `yaml:"anycast"`
	BGP       *rawBGP        `yaml:"bgp"`
	at        pos            // the node's own mapping
}

// UnmarshalYAML keeps the node's own position, for errors about the node as
// a whole (a required field that is absent).
func (r *rawNode) UnmarshalYAML(n *yaml.Node) error {
	type plain rawNode
	return decodeAt(n, (*plain)(r), &r.at)
}

type rawBGP struct {
	ASN                 val[uint32]    `yaml:"asn"`
	RouterID            val[string]    `yaml:"router_id"`
	ListenAddr          val[string]    `yaml:"listen_addr"`
	ListenPort          val[int]       `yaml:"listen_port"`
	Neighbors           []rawNeighbor  `yaml:"neighbors"`
	Communities         []val[string]  `yaml:"communities"`
	LargeCommunities    []val[string]  `yaml:"large_communities"`
	Prepend             val[int]       `yaml:"prepend"`
	MED                 val[uint32]    `yaml:"med"`
	GracefulShutdown    val[string]    `yaml:"graceful_shutdown"`
	MinAnnounceInterval val[string]    `yaml:"min_announce_interval"`
	Command             []val[string]  `yaml:"command"`
	ConnectRetry        val[string]    `yaml:"connect_retry"`
	Check               rawHealthCheck `yaml:"check"`
	at                  pos            // the block's own mapping
}

// UnmarshalYAML keeps the block's own position.
func (r *rawBGP) UnmarshalYAML(n *yaml.Node) error {
	type plain rawBGP
	return decodeAt(n, (*plain)(r), &r.at)
}

type rawNeighbor struct {
	Address      val[string] `yaml:"address"`
	Port         val[int]    `yaml:"port"`
	ASN          val[uint32] `yaml:"asn"`
	PasswordFile val[string] `yaml:"password_file"`
	Multihop     val[int]    `yaml:"multihop"`
	Hold         val[string] `yaml:"hold"`
	Keepalive    val[string] `yaml:"keepalive"`
	Passive      val[bool]   `yaml:"passive"`
	at           pos         // the neighbor's own mapping
}

// UnmarshalYAML keeps the neighbor's own position.
func (r *rawNeighbor) UnmarshalYAML(n *yaml.Node) error {
	type plain rawNeighbor
	return decodeAt(n, (*plain)(r), &r.at)
}

// decodeAt decodes n into plain, a raw type's method-less twin (so that
// its own UnmarshalYAML is not called again), and keeps n's position in at
// for problems of the block as a whole, such as a field it leaves out.
func decodeAt(n *yaml.Node, plain any, at *pos) error {
	if err := n.Decode(plain); err != nil {
		return err
	}
	*at = pos{n.Line, n.Column}
	return nil
}
