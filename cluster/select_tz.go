package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tzIndex groups the candidates by IANA time zone. A zone's offset changes
// only at its transitions, so each zone caches its offset for the interval
// around the snapshot's publication (time.Time.ZoneBounds) and recomputes
// only for an instant outside it.
type tzIndex struct {
	zones  []tzZone
	groups []group // one per zone, same order
}

type tzZone struct {
	name       string
	loc        *time.Location
	offset     time.Duration // valid in [start, end)
	start, end time.Time     // zero start/end: unbounded
}

func newTZIndex(nodes []*Node, members []member, answers int, at time.Time) *tzIndex {
	x := &tzIndex{}
	byName := map[string]int{}
	var ms [][]member
	for i, n := range nodes {
		z, ok := byName[n.TimeZone]
		if !ok {
			loc, err := loadZone(n.TimeZone)
			if err != nil {
				// Validation rejects unknown zones; a snapshot that still
				// has one treats the node as UTC rather than failing.
				loc = time.UTC
			}
			z = len(x.zones)
			byName[n.TimeZone] = z
			zone := tzZone{name: n.TimeZone, loc: loc}
			t := at.In(loc)
			_, off := t.Zone()
			zone.offset = time.Duration(off) * time.Second
			zone.start, zone.end = t.ZoneBounds()
			x.zones = append(x.zones, zone)
			ms = append(ms, nil)
		}
		ms[z] = append(ms[z], members[i])
	}
	x.groups = make([]group, len(ms))
	for z := range ms {
		x.groups[z] = newGroup(ms[z], answers)
	}
	return x
}

// offsetAt is the zone's UTC offset at now.
func (z *tzZone) offsetAt(now time.Time) time.Duration {
	if (z.start.IsZero() || !now.Before(z.start)) && (z.end.IsZero() || now.Before(z.end)) {
		return z.offset
	}
	_, off := now.In(z.loc).Zone()
	return time.Duration(off) * time.Second
}

// offsetDistance is how far apart two UTC offsets are on the clock face:
// +13:00 (Tonga) and -11:00 (Niue) are 24 hours apart on paper but show the
// same time of day and lie near each other, so distances wrap at 24 hours.
func offsetDistance(a, b time.Duration) time.Duration {
	d := (a - b) % (24 * time.Hour)
	if d < 0 {
		d = -d
	}
	return min(d, 24*time.Hour-d)
}

// loadZone loads an IANA zone. "" and "Local" are refused: the host's own
// zone would make decisions differ between hosts.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q: not an IANA zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// zoneCache maps the time zone names a Locator returns to their zones. The
// map is replaced, never changed, so lookups take no lock and allocate
// nothing; a miss loads the zone once. GeoIP databases name a few hundred
// zones at most; maxCachedZones bounds the map should one name more.
type zoneCache struct {
	m  atomic.Pointer[map[string]*time.Location]
	mu sync.Mutex // serialises misses
}

const maxCachedZones = 1024

// get returns the zone named name, or nil for an unknown one.
func (c *zoneCache) get(name string) *time.Location {
	if m := c.m.Load(); m != nil {
		if loc, ok := (*m)[name]; ok {
			return loc
		}
	}
	loc, err := loadZone(name)
	if err != nil {
		loc = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= maxCachedZones {
		return loc
	}
	next := make(map[string]*time.Location, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[name] = loc
	c.m.Store(&next)
	return loc
}

func lenMap(m *map[string]*time.Location) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// Steady returns the interval around q.Now in which the decision d, made
// for q, stays the same for q at any other instant: [from, until), zero
// for an unbounded end. Only timezone decisions depend on the time, through
// the UTC offsets of the client's zone and of the node zones, which change
// only at their transitions; every other decision is steady for ever.
func (e *Engine) Steady(q Query, d *Decision) (from, until time.Time) {
	if e.tz == nil || d.Rule != RuleTimezone && d.Then != RuleTimezone {
		return from, until
	}
	bound := func(loc *time.Location) {
		s, u := q.Now.In(loc).ZoneBounds()
		if !s.IsZero() && (from.IsZero() || s.After(from)) {
			from = s.UTC()
		}
		if !u.IsZero() && (until.IsZero() || u.Before(until)) {
			until = u.UTC()
		}
	}
	for i := range e.tz.zones {
		bound(e.tz.zones[i].loc)
	}
	if !q.HasOffset && d.Located {
		if z := e.zones.get(d.Location.TimeZone); z != nil {
			bound(z)
		}
	}
	return from, until
}
