package cluster

import (
	"math"
	"net/netip"
	"time"
)

// Select decides for one client and fills d, which the caller owns and
// reuses. It allocates nothing.
//
// Scope (RFC 7871) is the number of leading client bits the answer depends
// on, so that a resolver may reuse it for the whole client network:
//   - 0 when the pool has one node: every client gets it.
//   - prefix match of length L: L, longer where another (longer) override
//     prefix lies inside the client's L-bit network, and at least the
//     hashing key length when several nodes share the prefix.
//   - otherwise at least the length that keeps every override prefix out of
//     the client's scope network (none of them may change the answer);
//   - geo and timezone from GeoIP: at least the GeoIP network's length;
//   - a rendezvous choice among more than one node: at least the key length
//     (/24 IPv4, /56 IPv6).
//
// The client address is masked to its source bits first: a short ECS
// source is decided for the source network as given (its address with the
// host bits zeroed). The scope is then exactly what the decision read, so
// it may exceed q.SourceBits: an answer for 10.0.0.0/8 that came from a
// GeoIP network, an override prefix or the hashing key inside it holds
// only for that longer network (RFC 7871 section 7.2.1), and a resolver
// must ask again for the clients outside it. A source of 0 bits (the client
// gave no address) gets scope 0: the answer is the one for every such query.
func (e *Engine) Select(q Query, d *Decision) {
	*d = Decision{Pool: e.pool, Candidate: len(e.nodes)}
	if e.pool == PoolEmpty {
		return
	}
	a, sb := q.Client, q.SourceBits
	mapped := a.Is4In6()
	if mapped {
		a, sb = a.Unmap(), sb-96
	}
	if !a.IsValid() {
		// No address to key on: every such query gets the pool's bucket 0
		// choice, which depends on nothing.
		d.Rule = RuleRandom
		e.fill(&e.all, 0, d)
		return
	}
	sb = min(max(sb, 0), a.BitLen())
	masked, _ := a.Prefix(sb)
	a = masked.Addr()
	kb := keyBits(a)
	d.Key, _ = a.Prefix(kb)
	b := bucketOf(a)
	ca := toAddr128(a)

	var scope int
	if ent, ok := e.prefixes.lookup(a); ok {
		d.Rule, d.Prefix = RulePrefix, ent.prefix
		g := ent.group
		e.fill(g, b, d)
		scope = max(ent.prefix.Bits(), e.prefixes.family(a).exclusionScope(ca, int(ent.lo), int(ent.hi)))
		if len(g.members) > 1 {
			scope = max(scope, kb)
		}
		if d.N < e.answers && d.N < len(e.nodes) {
			// The remaining answers come from the site's method.
			scope = max(scope, e.byMethod(q, a, b, kb, d, false))
		}
	} else {
		fam := e.prefixes.family(a)
		scope = max(fam.exclusionScope(ca, 0, len(fam.addrs)), e.byMethod(q, a, b, kb, d, true))
	}
	if len(e.nodes) == 1 {
		scope = 0
	}
	if sb == 0 {
		scope = 0
	}
	d.Scope = scope
	if mapped && d.Scope > 0 {
		// The client spoke IPv6: its scope counts the 96 mapping bits.
		d.Scope += 96
	}
}

// byMethod fills the rest of d by the site's method and returns the scope
// the method needs. first tells whether the method makes the decision (and
// sets the rule) or only continues after a prefix match.
func (e *Engine) byMethod(q Query, a netip.Addr, b uint32, kb int, d *Decision, first bool) int {
	switch e.method {
	case MethodGeo:
		return e.selectGeo(a, b, kb, d, first)
	case MethodAnycast:
		if first && e.anycast {
			// The anycast address is the same for every client; only an
			// override prefix (already in the caller's scope) could differ.
			d.Rule, d.Anycast = RuleAnycast, true
			return 0
		}
		return e.selectGeo(a, b, kb, d, first)
	case MethodTimezone:
		return e.selectTZ(q, a, b, kb, d, first)
	case MethodSRV:
		e.setRule(d, RuleSRV, first)
		return e.weighted(b, kb, d)
	default:
		e.setRule(d, RuleRandom, first)
		return e.weighted(b, kb, d)
	}
}

func (e *Engine) setRule(d *Decision, r Rule, first bool) {
	if first {
		d.Rule = r
	} else {
		d.Then = r
	}
}

// weighted fills d by rendezvous over the whole pool.
func (e *Engine) weighted(b uint32, kb int, d *Decision) int {
	e.fill(&e.all, b, d)
	if len(e.nodes) > 1 {
		return kb
	}
	return 0
}

// fill appends g's best nodes for bucket b to d, up to the answer count,
// skipping nodes d already holds.
func (e *Engine) fill(g *group, b uint32, d *Decision) {
	if len(g.members) == 1 && d.N < e.answers {
		// One node: no ranking to do, only the duplicate check.
		n := e.nodes[g.members[0].node]
		for _, x := range d.Nodes[:d.N] {
			if x == n {
				return
			}
		}
		d.Nodes[d.N] = n
		d.N++
		return
	}
	var acc topK
	acc.reset(e.answers - d.N)
	acc.skip, acc.nodes = d.Nodes[:d.N], e.nodes
	g.feed(b, &acc)
	for i := 0; i < acc.n; i++ {
		d.Nodes[d.N] = e.nodes[acc.e[i].node]
		d.N++
	}
}

// locate asks the Locator. netBits is how many address bits the answer (or
// the lack of one) covers: the database network's length, or the whole
// address when the Locator does not say.
func (e *Engine) locate(a netip.Addr) (loc Location, ok bool, netBits int) {
	netBits = a.BitLen()
	if e.loc == nil {
		return Location{}, false, 0
	}
	loc, ok = e.loc.Locate(a)
	if n := loc.Network; n.IsValid() && n.Addr().Is4() == a.Is4() {
		netBits = min(n.Bits(), a.BitLen())
	}
	return loc, ok, netBits
}

// selectGeo fills d with the nodes nearest to the client's location.
func (e *Engine) selectGeo(a netip.Addr, b uint32, kb int, d *Decision, first bool) int {
	loc, ok, netBits := e.locate(a)
	if !ok || !validLatLon(loc.Lat, loc.Lon) {
		e.setRule(d, RuleGeoUnknown, first)
		return max(netBits, e.weighted(b, kb, d))
	}
	e.setRule(d, RuleGeo, first)
	d.Location, d.Located = loc, true
	var near nearest
	// Enough groups to fill the answer even if every group held one node
	// and every node already answered (by a prefix) sat in its own group.
	near.cap = min(e.answers+d.N, len(e.geo.groups), len(near.e))
	e.geo.search(loc.Lat, loc.Lon, unitVector(loc.Lat, loc.Lon), &near)
	scope := netBits
	for i := 0; i < near.n && d.N < e.answers; i++ {
		g := &e.geo.groups[near.e[i].group]
		if i == 0 {
			d.Distance = chordKm(near.e[i].c2)
		}
		e.fill(g, b, d)
		if len(g.members) > 1 {
			scope = max(scope, kb)
		}
	}
	return scope
}

// selectTZ fills d with the nodes whose UTC offset at q.Now is closest to
// the client's. Zones at the same distance tie and are chosen among by
// weight (rendezvous over their union); the next answers come from the
// next-closest distance.
func (e *Engine) selectTZ(q Query, a netip.Addr, b uint32, kb int, d *Decision, first bool) int {
	scope := 0
	off := q.Offset
	if !q.HasOffset {
		loc, ok, netBits := e.locate(a)
		var z *time.Location
		if ok {
			z = e.zones.get(loc.TimeZone)
		}
		if z == nil {
			e.setRule(d, RuleGeoUnknown, first)
			return max(netBits, e.weighted(b, kb, d))
		}
		_, s := q.Now.In(z).Zone()
		off = time.Duration(s) * time.Second
		scope = netBits
		d.Location, d.Located = loc, true
	}
	e.setRule(d, RuleTimezone, first)
	d.Offset = off
	zones := e.tz.zones
	prev := time.Duration(-1)
	for d.N < e.answers {
		next := time.Duration(math.MaxInt64)
		for i := range zones {
			if dist := offsetDistance(zones[i].offsetAt(q.Now), off); dist > prev && dist < next {
				next = dist
			}
		}
		if next == math.MaxInt64 {
			break
		}
		var acc topK
		acc.reset(e.answers - d.N)
		acc.skip, acc.nodes = d.Nodes[:d.N], e.nodes
		tied := 0
		for i := range zones {
			if offsetDistance(zones[i].offsetAt(q.Now), off) == next {
				e.tz.groups[i].feed(b, &acc)
				tied += len(e.tz.groups[i].members)
			}
		}
		for i := 0; i < acc.n; i++ {
			d.Nodes[d.N] = e.nodes[acc.e[i].node]
			d.N++
		}
		if tied > 1 {
			scope = max(scope, kb)
		}
		prev = next
	}
	return scope
}
