package cluster

import (
	"net/netip"
	"strconv"
	"time"
)

// The selection engine's inputs and outputs. The engine itself (Engine,
// NewEngine, Select) lives in engine.go; these types are shared by the DNS
// plugin, the session broker and `meridian ctl explain`.

// Location is where a client address is, as a GeoIP database says.
type Location struct {
	Lat, Lon float64
	TimeZone string       // IANA zone, "" when unknown
	Network  netip.Prefix // the database network that holds the address
}

// Locator finds a client's location. The geoip package implements it on a
// MaxMind City database; tests use their own.
type Locator interface {
	Locate(addr netip.Addr) (Location, bool)
}

// Query is one selection request.
type Query struct {
	// Client is the client's address: the EDNS Client Subnet address when
	// the query has one, else the source address.
	Client netip.Addr
	// SourceBits is the ECS source prefix length, or the full address
	// length when there is no ECS. Client is masked to it: the decision is
	// made for the source network as given, and Decision.Scope says how
	// many bits of that address it read, which can be more.
	SourceBits int
	// Offset is the client's UTC offset when the client said it (session
	// requests); HasOffset tells whether it did.
	Offset    time.Duration
	HasOffset bool
	// Now is the instant of the decision (DST of node time zones).
	Now time.Time
}

// Pool is the set of nodes the decision chose from.
type Pool uint8

// Candidate pools, in the order they are tried.
const (
	PoolUp        Pool = iota // up and accepting
	PoolSecondary             // no primary up: up and accepting secondary nodes
	PoolFailOpen              // none up: accepting nodes whatever their health
	PoolEmpty                 // no accepting node at all
)

// Rule is the rule that made the decision.
type Rule uint8

// Rules.
const (
	RuleNone       Rule = iota // no candidate
	RulePrefix                 // a node's network prefix matched the client
	RuleRandom                 // weighted rendezvous over the pool
	RuleGeo                    // nearest by great-circle distance
	RuleGeoUnknown             // geo or timezone without a client location: weighted over the pool
	RuleTimezone               // closest UTC offset
	RuleSRV                    // SRV method: every candidate
	RuleAnycast                // the anycast address
)

// Decision is the engine's answer. It is a value the caller owns and reuses,
// so that a decision allocates nothing.
type Decision struct {
	Nodes   [MaxAnswers]*Node // the chosen nodes, best first; Nodes[:N]
	N       int
	Anycast bool // answer the site's anycast address (Engine.Anycast) instead of Nodes; N is 0
	Pool    Pool
	Rule    Rule
	// Then is the rule that filled the answers left after a prefix match
	// (RuleNone when the prefix's nodes filled them all).
	Then Rule
	// Scope is the number of leading client address bits the decision
	// depended on: the ECS scope prefix length (RFC 7871). It can exceed
	// Query.SourceBits when the decision read longer networks (GeoIP,
	// override prefixes, the hashing key) inside a short source network.
	Scope int
	// What the rules saw, for explain.
	Prefix    netip.Prefix  // the override prefix that matched (RulePrefix)
	Location  Location      // the client's location (geo, timezone)
	Located   bool          // Location is known
	Offset    time.Duration // the client offset used (timezone)
	Distance  float64       // km to the first node geo chose
	Key       netip.Prefix  // the rendezvous hashing key (client /24 or /56)
	Candidate int           // size of the pool
}

// Chosen returns the chosen nodes, best first.
func (d *Decision) Chosen() []*Node { return d.Nodes[:d.N] }

// String names the pool for explain and metrics labels.
func (p Pool) String() string {
	switch p {
	case PoolUp:
		return "up"
	case PoolSecondary:
		return "secondary"
	case PoolFailOpen:
		return "fail-open"
	case PoolEmpty:
		return "empty"
	}
	return "pool(" + strconv.Itoa(int(p)) + ")"
}

// String names the rule for explain and metrics labels.
func (r Rule) String() string {
	switch r {
	case RuleNone:
		return "none"
	case RulePrefix:
		return "prefix"
	case RuleRandom:
		return "random"
	case RuleGeo:
		return "geo"
	case RuleGeoUnknown:
		return "geo-unknown"
	case RuleTimezone:
		return "timezone"
	case RuleSRV:
		return "srv"
	case RuleAnycast:
		return "anycast"
	}
	return "rule(" + strconv.Itoa(int(r)) + ")"
}
