package cluster

import (
	"net/netip"
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
	// length when there is no ECS. The decision never depends on more bits
	// than this.
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
	RuleGeoUnknown             // geo without a location: weighted over the pool
	RuleTimezone               // closest UTC offset
	RuleSRV                    // SRV method: every candidate
	RuleAnycast                // the anycast address
)

// Decision is the engine's answer. It is a value the caller owns and reuses,
// so that a decision allocates nothing.
type Decision struct {
	Nodes   [MaxAnswers]*Node // the chosen nodes, best first; Nodes[:N]
	N       int
	Anycast bool // answer the site's anycast address instead of Nodes
	Pool    Pool
	Rule    Rule
	// Scope is the number of leading client address bits the decision
	// depended on: the ECS scope prefix length (RFC 7871).
	Scope int
	// What the rules saw, for explain.
	Prefix    netip.Prefix  // the override prefix that matched (RulePrefix)
	Location  Location      // the client's location (RuleGeo, RuleTimezone)
	Located   bool          // Location is known
	Offset    time.Duration // the client offset used (RuleTimezone)
	Distance  float64       // km to the first node (RuleGeo)
	Key       netip.Prefix  // the rendezvous hashing key (client /24 or /56)
	Candidate int           // size of the pool
}

// Chosen returns the chosen nodes, best first.
func (d *Decision) Chosen() []*Node { return d.Nodes[:d.N] }
