package cluster

import (
	"net/netip"
)

// Engine answers "which node for this client" for one snapshot. Everything
// that depends only on the snapshot (the candidate pool, the prefix table,
// rendezvous tables, the geo index, time zone groups) is computed once by
// NewEngine; Select then allocates nothing. An Engine is immutable and safe
// for concurrent use; a new snapshot gets a new Engine.
type Engine struct {
	snap     *Snapshot
	loc      Locator
	pool     Pool
	nodes    []*Node  // the candidate pool; members index it
	members  []member // one per pool node
	answers  int
	method   Method
	all      group // the whole pool, for random, srv and unknown locations
	prefixes *prefixIndex
	geo      *geoIndex // geo and anycast
	tz       *tzIndex  // timezone
	zones    *zoneCache
	anycast  bool // some candidate announces a site anycast address
	anyV4    netip.Addr
	anyV6    netip.Addr
	srv      []SRVTarget
	master   *Master
	masterR  string
}

// SRVTarget is one relay SRV record's target.
type SRVTarget struct {
	Node     *Node
	Priority uint16
	Weight   uint16
}

// SRV priorities: lower is preferred (RFC 2782), so primary nodes come
// first and secondary nodes only when no primary answers.
const (
	srvPriorityPrimary   = 10
	srvPrioritySecondary = 20
)

// NewEngine compiles a snapshot for fast decisions. loc may be nil (no
// GeoIP: geo and timezone fall back to weighted choice). A nil snapshot or
// one without config gives an engine that answers nothing.
func NewEngine(snap *Snapshot, loc Locator) *Engine {
	e := &Engine{snap: snap, loc: loc, pool: PoolEmpty, answers: 1, zones: &zoneCache{}, prefixes: &prefixIndex{}}
	if snap == nil || snap.Config == nil {
		e.masterR = "no site configuration"
		return e
	}
	site := snap.Config
	e.method = site.Selection.Method
	e.answers = min(max(site.Selection.Answers, 1), MaxAnswers)
	e.master, e.masterR = supportMaster(snap)

	states := make(map[string]*NodeState, len(snap.Nodes))
	for i := range snap.Nodes {
		if _, dup := states[snap.Nodes[i].Name]; !dup {
			states[snap.Nodes[i].Name] = &snap.Nodes[i]
		}
	}
	e.pool, e.nodes = candidates(site, states)
	if e.pool == PoolEmpty {
		return e
	}
	e.members = make([]member, len(e.nodes))
	for i, n := range e.nodes {
		id := n.ID
		if id == "" {
			id = n.Name
		}
		e.members[i] = member{node: int32(i), seed: nodeSeed(id), weight: float64(max(n.Weight, 1))}
	}
	e.all = newGroup(e.members, e.answers)
	e.prefixes = newPrefixIndex(e.nodes, e.members, e.answers)
	switch e.method {
	case MethodGeo, MethodAnycast:
		e.geo = newGeoIndex(e.nodes, e.members, e.answers)
	case MethodTimezone:
		// The snapshot's publication is the instant nearest to the queries
		// it will serve, so its zone intervals are the ones to cache.
		e.tz = newTZIndex(e.nodes, e.members, e.answers, snap.Published)
	}
	e.anyV4, e.anyV6 = announced(site, e.nodes, states)
	e.anycast = e.anyV4.IsValid() || e.anyV6.IsValid()
	e.srv = srvTargets(srvNodes(site, states, e.pool, e.nodes))
	return e
}

// candidates applies rule 1: up and accepting primary nodes; else up and
// accepting secondary nodes; else every accepting node (fail open: a probe
// outage must never empty the answer).
func candidates(site *Site, states map[string]*NodeState) (Pool, []*Node) {
	up := func(n *Node) bool { s := states[n.Name]; return s != nil && s.Health == Up }
	pick := func(keep func(*Node) bool) []*Node {
		var out []*Node
		for i := range site.Nodes {
			if n := &site.Nodes[i]; Accepting(n, states[n.Name]) && keep(n) {
				out = append(out, n)
			}
		}
		return out
	}
	if ns := pick(func(n *Node) bool { return up(n) && !n.Secondary }); len(ns) > 0 {
		return PoolUp, ns
	}
	if ns := pick(func(n *Node) bool { return up(n) && n.Secondary }); len(ns) > 0 {
		return PoolSecondary, ns
	}
	if ns := pick(func(*Node) bool { return true }); len(ns) > 0 {
		return PoolFailOpen, ns
	}
	return PoolEmpty, nil
}

// srvNodes are the SRV targets: the pool, and with primaries up also the
// secondaries that are up and accepting. SRV clients fail over by priority
// themselves, so a cached answer should already name the fallback nodes.
func srvNodes(site *Site, states map[string]*NodeState, pool Pool, nodes []*Node) []*Node {
	if pool != PoolUp {
		return nodes
	}
	out := append([]*Node(nil), nodes...)
	for i := range site.Nodes {
		n := &site.Nodes[i]
		if s := states[n.Name]; n.Secondary && Accepting(n, s) && s != nil && s.Health == Up {
			out = append(out, n)
		}
	}
	return out
}

// announced returns the site's anycast addresses that at least one
// candidate node says it announces.
func announced(site *Site, nodes []*Node, states map[string]*NodeState) (v4, v6 netip.Addr) {
	for _, n := range nodes {
		s := states[n.Name]
		if s == nil {
			continue
		}
		for _, p := range s.Announcing {
			if a := site.Selection.AnycastIPv4; a.IsValid() && p.Contains(a) {
				v4 = a
			}
			if a := site.Selection.AnycastIPv6; a.IsValid() && p.Contains(a) {
				v6 = a
			}
		}
	}
	return v4, v6
}

// srvTargets scales node weights into SRV weights 1..65535, the heaviest
// node getting 65535 (RFC 2782 weights are relative; 0 would mean "almost
// never", which no candidate should be).
func srvTargets(nodes []*Node) []SRVTarget {
	maxW := 1
	for _, n := range nodes {
		maxW = max(maxW, n.Weight)
	}
	out := make([]SRVTarget, len(nodes))
	for i, n := range nodes {
		w := int64(max(n.Weight, 1)) * 65535 / int64(maxW)
		prio := uint16(srvPriorityPrimary)
		if n.Secondary {
			prio = srvPrioritySecondary
		}
		out[i] = SRVTarget{Node: n, Priority: prio, Weight: uint16(max(w, 1))}
	}
	return out
}

// supportMaster picks the support hostname's master ("DNS swing").
func supportMaster(snap *Snapshot) (*Master, string) {
	ms := &snap.Config.Masters
	p := snap.Master(ms.Primary.Name).Health
	switch p {
	case Up:
		return &ms.Primary, "primary " + ms.Primary.Name + " is up"
	case Unknown:
		// A director that just started has not probed yet: keep the
		// primary rather than swing on no evidence.
		return &ms.Primary, "primary " + ms.Primary.Name + " not probed yet: counted as up"
	}
	if b := ms.Backup; b != nil {
		switch snap.Master(b.Name).Health {
		case Up:
			return b, "primary " + ms.Primary.Name + " is down: backup " + b.Name + " is up"
		case Unknown:
			return b, "primary " + ms.Primary.Name + " is down: backup " + b.Name + " not probed yet, counted as up"
		}
		return &ms.Primary, "primary " + ms.Primary.Name + " and backup " + b.Name + " are down: fail open to the primary"
	}
	return &ms.Primary, "primary " + ms.Primary.Name + " is down and there is no backup: fail open to the primary"
}

// Snapshot returns the snapshot the engine was built from.
func (e *Engine) Snapshot() *Snapshot { return e.snap }

// SupportMaster returns the master the support hostname resolves to: the
// primary while it is up (Unknown counts as up: a director that just
// started has not probed yet), else the backup if it is up, else the
// primary (fail open). The reason is for explain. m is nil only for an
// engine without a site.
func (e *Engine) SupportMaster() (m *Master, reason string) { return e.master, e.masterR }

// SRV returns the targets of the relay SRV records: the candidate pool,
// primary nodes at priority 10 and secondary ones at 20, weights scaled
// into 1..65535. The slice is shared: do not modify it.
func (e *Engine) SRV() []SRVTarget { return e.srv }

// Anycast returns the site's anycast addresses that at least one candidate
// announces (invalid when none does), for the A and AAAA answers of
// Decision.Anycast.
func (e *Engine) Anycast() (v4, v6 netip.Addr) { return e.anyV4, e.anyV6 }

// Pool returns the candidate pool the engine chooses from and its size.
func (e *Engine) Pool() (Pool, int) { return e.pool, len(e.nodes) }
