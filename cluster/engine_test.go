package cluster

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSelectPools(t *testing.T) {
	site := func() *Site {
		return tsite(MethodRandom, MaxAnswers, tnode("a"), tnode("b"), tnode("s", secondary), tnode("off", notAccepting))
	}
	tests := []struct {
		name   string
		states []NodeState
		pool   Pool
		want   []string // the whole pool: answers is large enough for all
	}{
		{"all up", nil, PoolUp, []string{"a", "b"}},
		{"one primary down", []NodeState{down("a")}, PoolUp, []string{"b"}},
		{"drained is out", []NodeState{drained("a")}, PoolUp, []string{"b"}},
		{"unknown is not up", []NodeState{unknown("a")}, PoolUp, []string{"b"}},
		{"primaries down: secondary", []NodeState{down("a"), down("b")}, PoolSecondary, []string{"s"}},
		{"primaries drained or down: secondary", []NodeState{drained("a"), down("b")}, PoolSecondary, []string{"s"}},
		{"all down: fail open", []NodeState{down("a"), down("b"), down("s")}, PoolFailOpen, []string{"a", "b", "s"}},
		{"fail open skips drained", []NodeState{down("a"), {Name: "b", Health: Down, Drained: true}, unknown("s")}, PoolFailOpen, []string{"a", "s"}},
		{"nothing accepting: empty", []NodeState{drained("a"), drained("b"), drained("s")}, PoolEmpty, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(tsnap(site(), tt.states...), nil)
			d := selectOne(e, q("192.0.2.1"))
			mustEqual(t, "pool", d.Pool, tt.pool)
			mustEqual(t, "candidates", d.Candidate, len(tt.want))
			if !sameSet(names(d), tt.want) {
				t.Errorf("chosen %v, want the set %v", names(d), tt.want)
			}
			if tt.pool == PoolEmpty {
				mustEqual(t, "rule", d.Rule, RuleNone)
				mustEqual(t, "scope", d.Scope, 0)
			}
		})
	}
}

func TestSelectEmptyEngines(t *testing.T) {
	for _, e := range []*Engine{NewEngine(nil, nil), NewEngine(&Snapshot{}, nil)} {
		d := selectOne(e, q("192.0.2.1"))
		if d.Pool != PoolEmpty || d.N != 0 {
			t.Errorf("engine without a site: pool %v, %d nodes", d.Pool, d.N)
		}
		if m, _ := e.SupportMaster(); m != nil {
			t.Errorf("engine without a site: support master %v", m)
		}
	}
}

func TestSelectPrefix(t *testing.T) {
	site := tsite(MethodRandom, 1,
		tnode("a", prefixes("10.0.0.0/8")),
		tnode("b", prefixes("10.1.0.0/16")),
		tnode("c", prefixes("10.2.0.0/16")),
		tnode("d", prefixes("10.2.0.0/16")),
		tnode("e", prefixes("10.3.0.0/16")), // down: its prefix does not count
	)
	e := NewEngine(tsnap(site, down("e")), nil)
	tests := []struct {
		client string
		bits   int // source bits; 0: the whole address
		rule   Rule
		prefix string
		want   []string // one of these
		scope  int
	}{
		// 10.1/16 and 10.2/16 lie inside 10.0/8; from 10.9.9.9 (00001001)
		// they share 12 bits with 10.1 and 10.2, so /13 is the shortest
		// network around the client that holds neither.
		{"10.9.9.9", 0, RulePrefix, "10.0.0.0/8", []string{"a"}, 13},
		{"10.200.0.1", 0, RulePrefix, "10.0.0.0/8", []string{"a"}, 9},
		{"10.3.1.1", 0, RulePrefix, "10.0.0.0/8", []string{"a"}, 16},
		{"10.1.2.3", 0, RulePrefix, "10.1.0.0/16", []string{"b"}, 16},
		// Two nodes share 10.2/16: rendezvous on the /24 decides.
		{"10.2.5.5", 0, RulePrefix, "10.2.0.0/16", []string{"c", "d"}, 24},
		// No prefix: random over four candidates keys on the /24.
		{"192.0.2.1", 0, RuleRandom, "", []string{"a", "b", "c", "d"}, 24},
		// An ECS /12 masks 10.9.0.0 to 10.0.0.0, which is decided as
		// given: 10.1/16 lies within 15 bits of it, so the answer holds
		// for 10.0.0.0/16 only, longer than the source.
		{"10.0.0.0", 12, RulePrefix, "10.0.0.0/8", []string{"a"}, 16},
		// Inside an override prefix the source network is decided too.
		{"10.2.0.0", 16, RulePrefix, "10.2.0.0/16", []string{"c", "d"}, 24},
		{"10.1.0.0", 16, RulePrefix, "10.1.0.0/16", []string{"b"}, 16},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			qu := q(tt.client)
			if tt.bits > 0 {
				qu.SourceBits = tt.bits
			}
			d := selectOne(e, qu)
			mustEqual(t, "rule", d.Rule, tt.rule)
			if tt.prefix != "" {
				mustEqual(t, "prefix", d.Prefix, netip.MustParsePrefix(tt.prefix))
			}
			if d.N != 1 || !slices.Contains(tt.want, d.Nodes[0].Name) {
				t.Errorf("chosen %v, want one of %v", names(d), tt.want)
			}
			mustEqual(t, "scope", d.Scope, tt.scope)
		})
	}
	// The equal-length tie spreads clients over both nodes, each sticky.
	seen := map[string]int{}
	for i := 0; i < 256; i++ {
		a := netip.AddrFrom4([4]byte{10, 2, byte(i), 9})
		d1, d2 := selectOne(e, Query{Client: a, SourceBits: 32}), selectOne(e, Query{Client: a.Next(), SourceBits: 32})
		if d1.Nodes[0] != d2.Nodes[0] {
			t.Fatalf("%s and the next address of its /24 got %s and %s", a, d1.Nodes[0].Name, d2.Nodes[0].Name)
		}
		seen[d1.Nodes[0].Name]++
	}
	if seen["c"] < 64 || seen["d"] < 64 {
		t.Errorf("equal-length tie split %v over 256 networks; want both well used", seen)
	}
}

// geoSite: two US nodes, two nodes at one Frankfurt location, one Sydney
// node, one Tokyo node reached only through its prefix.
func geoSite(method Method, answers int) *Site {
	return tsite(method, answers,
		tnode("la", at(34.05, -118.24)),
		tnode("ny", at(40.71, -74.01)),
		tnode("fra1", at(50.11, 8.68)),
		tnode("fra2", at(50.11, 8.68)),
		tnode("syd", at(-33.87, 151.21)),
		tnode("tyo", at(35.68, 139.69), prefixes("100.64.5.0/24")),
	)
}

var geoLocator = tableLocator{
	loc("192.0.0.0/16", 42.36, -71.06, "America/New_York"), // Boston
	loc("198.51.0.0/16", 48.85, 2.35, "Europe/Paris"),      // Paris
	loc("100.64.0.0/10", 39.74, -104.99, "America/Denver"), // Denver
	loc("203.0.113.0/24", -37.81, 144.96, "Australia/Melbourne"),
	loc("2001:db8::/32", 51.51, -0.13, "Europe/London"),
}

func TestSelectGeo(t *testing.T) {
	tests := []struct {
		name    string
		answers int
		states  []NodeState
		loc     Locator
		client  string
		bits    int
		rule    Rule
		want    [][]string // per answer position, the allowed nodes
		scope   int
	}{
		{"nearest", 1, nil, geoLocator, "192.0.2.55", 0, RuleGeo, [][]string{{"ny"}}, 16},
		{"nearest two", 2, nil, geoLocator, "192.0.2.55", 0, RuleGeo, [][]string{{"ny"}, {"la"}}, 16},
		{"same place ties by rendezvous", 1, nil, geoLocator, "198.51.100.7", 0, RuleGeo, [][]string{{"fra1", "fra2"}}, 24},
		{"both at the place, then the next", 3, nil, geoLocator, "198.51.100.7", 0, RuleGeo, [][]string{{"fra1", "fra2"}, {"fra1", "fra2"}, {"ny"}}, 24},
		{"southern hemisphere", 1, nil, geoLocator, "203.0.113.9", 0, RuleGeo, [][]string{{"syd"}}, 24},
		{"nearest down: next nearest", 1, []NodeState{down("ny")}, geoLocator, "192.0.2.55", 0, RuleGeo, [][]string{{"la"}}, 16},
		// 100.64.5.0/24 (tyo's) lies in Denver's /10: the client's scope
		// network must be long enough to leave it out (shared 21 bits).
		{"override prefix inside the network", 1, nil, geoLocator, "100.64.1.1", 0, RuleGeo, [][]string{{"la"}}, 22},
		{"override prefix", 1, nil, geoLocator, "100.64.5.7", 0, RulePrefix, [][]string{{"tyo"}}, 24},
		{"prefix then geo", 2, nil, geoLocator, "100.64.5.7", 0, RulePrefix, [][]string{{"tyo"}, {"la"}}, 24},
		{"IPv6", 1, nil, geoLocator, "2001:db8:1:2::1", 0, RuleGeo, [][]string{{"fra1", "fra2"}}, 56},
		{"unknown location", 1, nil, geoLocator, "198.18.0.1", 0, RuleGeoUnknown, [][]string{{"la", "ny", "fra1", "fra2", "syd", "tyo"}}, 32},
		// The locator names no network for the unknown address: the
		// decision read all of it.
		{"unknown location, ECS /20", 1, nil, geoLocator, "198.18.0.0", 20, RuleGeoUnknown, [][]string{{"la", "ny", "fra1", "fra2", "syd", "tyo"}}, 32},
		{"no locator", 1, nil, nil, "192.0.2.55", 0, RuleGeoUnknown, [][]string{{"la", "ny", "fra1", "fra2", "syd", "tyo"}}, 24},
		// ECS /12: the decision is made for 192.0.0.0, in Boston's /16,
		// and holds for that /16 only, not the whole /12 the resolver sent.
		{"ECS shorter than the network", 1, nil, geoLocator, "192.0.0.0", 12, RuleGeo, [][]string{{"ny"}}, 16},
		// ECS /8 over Denver's /10 with tyo's prefix inside: 100.0.0.0 is
		// not in Denver's network; the locator names none, so all 32 bits.
		{"ECS /8 outside the located network", 1, nil, geoLocator, "100.0.0.0", 8, RuleGeoUnknown, [][]string{{"la", "ny", "fra1", "fra2", "syd", "tyo"}}, 32},
		// Two nodes at one place: the hashing key is read too.
		{"ECS /16, then the key", 1, nil, geoLocator, "198.51.0.0", 16, RuleGeo, [][]string{{"fra1", "fra2"}}, 24},
		{"ECS /0: scope 0", 1, nil, geoLocator, "0.0.0.0", -1, RuleGeoUnknown, [][]string{{"la", "ny", "fra1", "fra2", "syd", "tyo"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(tsnap(geoSite(MethodGeo, tt.answers), tt.states...), tt.loc)
			qu := q(tt.client)
			if tt.bits != 0 { // -1: an ECS /0
				qu.SourceBits = max(tt.bits, 0)
			}
			d := selectOne(e, qu)
			mustEqual(t, "rule", d.Rule, tt.rule)
			if d.N != len(tt.want) {
				t.Fatalf("chosen %v, want %d nodes", names(d), len(tt.want))
			}
			for i, ok := range tt.want {
				if !slices.Contains(ok, d.Nodes[i].Name) {
					t.Errorf("answer %d is %s, want one of %v", i, d.Nodes[i].Name, ok)
				}
			}
			if len(names(d)) != len(slices.Compact(slices.Sorted(slices.Values(names(d))))) {
				t.Errorf("chosen %v holds a node twice", names(d))
			}
			mustEqual(t, "scope", d.Scope, tt.scope)
		})
	}
}

func TestSelectGeoDistance(t *testing.T) {
	e := NewEngine(tsnap(geoSite(MethodGeo, 1)), geoLocator)
	d := selectOne(e, q("192.0.2.55"))
	// Boston to New York is about 306 km along the great circle.
	if d.Distance < 295 || d.Distance > 315 {
		t.Errorf("distance %.1f km, want about 306", d.Distance)
	}
	if !d.Located || d.Location.TimeZone != "America/New_York" {
		t.Errorf("location %+v located %v", d.Location, d.Located)
	}
}

// TestSelectTimezone steps through the year: a Berlin node is +1h in
// January and +2h in July, London +0h and +1h.
func TestSelectTimezone(t *testing.T) {
	site := tsite(MethodTimezone, 1,
		tnode("ber", zone("Europe/Berlin")),
		tnode("lon", zone("Europe/London")),
		tnode("nyc", zone("America/New_York")),
	)
	eu := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC) // EU summer time starts
	tests := []struct {
		name   string
		now    time.Time
		offset string // "" : from GeoIP
		client string
		want   string
		used   time.Duration
	}{
		{"January +1: Berlin", january, "+01:00", "192.0.2.1", "ber", time.Hour},
		{"July +1: London (BST)", july, "+01:00", "192.0.2.1", "lon", time.Hour},
		{"July +2: Berlin (CEST)", july, "+02:00", "192.0.2.1", "ber", 2 * time.Hour},
		{"just before EU DST +1: Berlin", eu.Add(-time.Minute), "+01:00", "192.0.2.1", "ber", time.Hour},
		{"just after EU DST +1: London", eu, "+01:00", "192.0.2.1", "lon", time.Hour},
		{"January -5: New York", january, "-0500", "192.0.2.1", "nyc", -5 * time.Hour},
		{"+14 is 5h from New York across the date line", january, "+14", "192.0.2.1", "nyc", 14 * time.Hour},
		{"GeoIP zone Paris in January", january, "", "198.51.100.7", "ber", time.Hour},
		{"GeoIP zone Paris in July", july, "", "198.51.100.7", "ber", 2 * time.Hour},
		{"GeoIP zone Denver", july, "", "100.64.0.1", "nyc", -6 * time.Hour},
	}
	// One engine built in January and one in July: each caches its
	// publication's offsets and must recompute outside them.
	for _, pub := range []time.Time{january, july} {
		sn := tsnap(site)
		sn.Published = pub
		e := NewEngine(sn, geoLocator)
		for _, tt := range tests {
			t.Run(pub.Month().String()+"/"+tt.name, func(t *testing.T) {
				qu := q(tt.client)
				qu.Now = tt.now
				if tt.offset != "" {
					off, err := ParseOffset(tt.offset)
					if err != nil {
						t.Fatal(err)
					}
					qu.Offset, qu.HasOffset = off, true
				}
				d := selectOne(e, qu)
				mustEqual(t, "rule", d.Rule, RuleTimezone)
				mustEqual(t, "node", names(d)[0], tt.want)
				mustEqual(t, "offset", d.Offset, tt.used)
				mustEqual(t, "located", d.Located, tt.offset == "")
			})
		}
	}
}

func TestSelectTimezoneScope(t *testing.T) {
	site := tsite(MethodTimezone, 1, tnode("ber", zone("Europe/Berlin")), tnode("nyc", zone("America/New_York")))
	e := NewEngine(tsnap(site), geoLocator)
	withOffset := q("192.0.2.1")
	withOffset.Offset, withOffset.HasOffset = time.Hour, true
	// From the request's offset the answer does not depend on the address.
	mustEqual(t, "scope with offset", selectOne(e, withOffset).Scope, 0)
	// From GeoIP it depends on the database network (198.51.0.0/16).
	mustEqual(t, "scope from GeoIP", selectOne(e, q("198.51.100.7")).Scope, 16)
	// No location: weighted over both, keyed on the /24, and the unknown
	// address is covered only by itself.
	d := selectOne(e, q("198.18.0.1"))
	mustEqual(t, "rule unknown", d.Rule, RuleGeoUnknown)
	mustEqual(t, "scope unknown", d.Scope, 32)
}

func TestSelectTimezoneTieFollowsWeights(t *testing.T) {
	// Etc/GMT-1 is UTC+1 and Etc/GMT+1 is UTC-1 (POSIX signs): both are an
	// hour from a UTC client, so weights decide.
	site := tsite(MethodTimezone, 1, tnode("east", zone("Etc/GMT-1"), weight(100)), tnode("west", zone("Etc/GMT+1"), weight(300)))
	e := NewEngine(tsnap(site), nil)
	const clients = 20000
	west := 0
	for i := 0; i < clients; i++ {
		qu := Query{Client: clientAddr(i), SourceBits: 32, HasOffset: true, Now: july}
		d := selectOne(e, qu)
		if names(d)[0] == "west" {
			west++
		}
		if i == 0 {
			mustEqual(t, "tie scope", d.Scope, 24)
		}
	}
	// Expected 0.75; the tolerance is four standard deviations of the
	// bucket quantisation (4096 buckets) plus client sampling.
	share := float64(west) / clients
	if tol := 4 * (sd(0.75, rendezvousBuckets) + sd(0.75, clients)); share < 0.75-tol || share > 0.75+tol {
		t.Errorf("west share %.3f, want 0.75 ± %.3f", share, tol)
	}
}

func TestSelectAnycast(t *testing.T) {
	announce := func(name string, h Health, p string) NodeState {
		return NodeState{Name: name, Health: h, Announcing: []netip.Prefix{netip.MustParsePrefix(p)}}
	}
	tests := []struct {
		name    string
		states  []NodeState
		client  string
		anycast bool
		rule    Rule
		scope   int
	}{
		// The anycast answer is the same for everyone except the clients of
		// tyo's override prefix 100.64.5.0/24: one bit (192 vs 100) keeps
		// them out.
		{"announced", []NodeState{announce("ny", Up, "203.0.113.0/24")}, "192.0.2.55", true, RuleAnycast, 1},
		{"announced, override prefix nearby", []NodeState{announce("ny", Up, "203.0.113.0/24")}, "100.64.1.1", true, RuleAnycast, 22},
		{"prefix beats anycast", []NodeState{announce("ny", Up, "203.0.113.0/24")}, "100.64.5.7", false, RulePrefix, 24},
		{"not announced: geo", nil, "192.0.2.55", false, RuleGeo, 16},
		{"other prefix announced: geo", []NodeState{announce("ny", Up, "198.51.100.0/24")}, "192.0.2.55", false, RuleGeo, 16},
		{"announced by a down node only: geo", []NodeState{announce("la", Down, "203.0.113.0/24")}, "192.0.2.55", false, RuleGeo, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := geoSite(MethodAnycast, 1)
			site.Selection.AnycastIPv4 = netip.MustParseAddr("203.0.113.1")
			e := NewEngine(tsnap(site, tt.states...), geoLocator)
			d := selectOne(e, q(tt.client))
			mustEqual(t, "anycast", d.Anycast, tt.anycast)
			mustEqual(t, "rule", d.Rule, tt.rule)
			mustEqual(t, "scope", d.Scope, tt.scope)
			if tt.anycast {
				mustEqual(t, "nodes", d.N, 0)
				v4, _ := e.Anycast()
				mustEqual(t, "anycast v4", v4, site.Selection.AnycastIPv4)
			} else if d.N != 1 {
				t.Errorf("chosen %v, want one node", names(d))
			}
		})
	}
}

func TestSelectSRV(t *testing.T) {
	site := tsite(MethodSRV, 3, tnode("a", weight(100)), tnode("b", weight(200)), tnode("s", secondary, weight(50)))
	tests := []struct {
		name   string
		states []NodeState
		chosen []string
		srv    []SRVTarget // Node names only
	}{
		{"primaries, secondary as fallback", nil, []string{"a", "b"}, []SRVTarget{{nil, 10, 32767}, {nil, 10, 65535}, {nil, 20, 16383}}},
		{"drained secondary not listed", []NodeState{{Name: "s", Health: Up, Drained: true}}, []string{"a", "b"}, []SRVTarget{{nil, 10, 32767}, {nil, 10, 65535}}},
		{"secondary", []NodeState{down("a"), down("b")}, []string{"s"}, []SRVTarget{{nil, 20, 65535}}},
		{"fail open", []NodeState{down("a"), down("b"), down("s")}, []string{"a", "b", "s"},
			[]SRVTarget{{nil, 10, 32767}, {nil, 10, 65535}, {nil, 20, 16383}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(tsnap(site, tt.states...), nil)
			d := selectOne(e, q("192.0.2.1"))
			mustEqual(t, "rule", d.Rule, RuleSRV)
			if !sameSet(names(d), tt.chosen) {
				t.Errorf("chosen %v, want the set %v", names(d), tt.chosen)
			}
			got := e.SRV()
			if len(got) != len(tt.srv) {
				t.Fatalf("SRV %d targets, want %d", len(got), len(tt.srv))
			}
			for i, w := range tt.srv {
				if got[i].Priority != w.Priority || got[i].Weight != w.Weight {
					t.Errorf("SRV %s: priority %d weight %d, want %d %d", got[i].Node.Name, got[i].Priority, got[i].Weight, w.Priority, w.Weight)
				}
			}
		})
	}
}

func TestSupportMaster(t *testing.T) {
	ms := func(p, b Health) []MasterState {
		return []MasterState{{Name: "m1", Health: p}, {Name: "m2", Health: b}}
	}
	tests := []struct {
		name     string
		states   []MasterState
		noBackup bool
		want     string
	}{
		{"primary up", ms(Up, Up), false, "m1"},
		{"not probed yet", nil, false, "m1"},
		{"primary unknown, backup up", ms(Unknown, Up), false, "m1"},
		{"primary down: swing", ms(Down, Up), false, "m2"},
		{"primary down, backup not probed", ms(Down, Unknown), false, "m2"},
		{"both down: fail open", ms(Down, Down), false, "m1"},
		{"down without backup", ms(Down, Up), true, "m1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := tsite(MethodRandom, 1, tnode("a"))
			if tt.noBackup {
				site.Masters.Backup = nil
			}
			sn := tsnap(site)
			sn.Masters = tt.states
			m, reason := NewEngine(sn, nil).SupportMaster()
			if m == nil || m.Name != tt.want || reason == "" {
				t.Errorf("master %v (%q), want %s", m, reason, tt.want)
			}
		})
	}
}

func TestSelectClientForms(t *testing.T) {
	e := NewEngine(tsnap(geoSite(MethodGeo, 1)), geoLocator)
	plain := selectOne(e, q("198.51.100.7"))
	mapped := selectOne(e, Query{Client: netip.MustParseAddr("::ffff:198.51.100.7"), SourceBits: 128})
	if names(mapped)[0] != names(plain)[0] || mapped.Scope != plain.Scope+96 {
		t.Errorf("mapped client: %v scope %d; plain %v scope %d", names(mapped), mapped.Scope, names(plain), plain.Scope)
	}
	zoned := selectOne(e, Query{Client: netip.MustParseAddr("2001:db8::1%eth0"), SourceBits: 128})
	mustEqual(t, "zoned rule", zoned.Rule, RuleGeo)

	var d Decision
	e.Select(Query{}, &d)
	if d.N != 1 || d.Scope != 0 || d.Rule != RuleRandom {
		t.Errorf("invalid client: %v scope %d rule %v", names(&d), d.Scope, d.Rule)
	}
	// One candidate: nothing depends on the client.
	one := NewEngine(tsnap(tsite(MethodGeo, 1, tnode("a", prefixes("10.0.0.0/8")))), geoLocator)
	mustEqual(t, "single-node scope", selectOne(one, q("10.1.2.3")).Scope, 0)
	mustEqual(t, "single-node scope", selectOne(one, q("192.0.2.1")).Scope, 0)
}

func TestSelectReusesDecision(t *testing.T) {
	e := NewEngine(tsnap(geoSite(MethodGeo, 3)), geoLocator)
	var d Decision
	e.Select(q("198.51.100.7"), &d)
	e.Select(q("203.0.113.1"), &d) // Melbourne: syd first
	if d.Nodes[0].Name != "syd" || d.N != 3 {
		t.Errorf("reused decision: %v", names(&d))
	}
	e = NewEngine(tsnap(geoSite(MethodGeo, 1)), geoLocator)
	e.Select(q("198.51.100.7"), &d)
	if d.N != 1 || d.Nodes[1] != nil {
		t.Errorf("reused decision kept stale answers: %v", d.Nodes)
	}
}

func TestSelectAllocs(t *testing.T) {
	withOffset := q("192.0.2.1")
	withOffset.Offset, withOffset.HasOffset = time.Hour, true
	tzSite := tsite(MethodTimezone, 2, tnode("ber", zone("Europe/Berlin")), tnode("nyc", zone("America/New_York")))
	tests := []struct {
		name string
		e    *Engine
		q    Query
	}{
		{"geo", NewEngine(tsnap(geoSite(MethodGeo, 2)), geoLocator), q("192.0.2.55")},
		{"prefix", NewEngine(tsnap(geoSite(MethodGeo, 2)), geoLocator), q("100.64.5.7")},
		{"random", NewEngine(tsnap(geoSite(MethodRandom, 1)), nil), q("192.0.2.55")},
		{"timezone GeoIP", NewEngine(tsnap(tzSite), geoLocator), q("198.51.100.7")},
		{"timezone offset", NewEngine(tsnap(tzSite), geoLocator), withOffset},
		{"IPv6", NewEngine(tsnap(geoSite(MethodGeo, 1)), geoLocator), q("2001:db8::1")},
	}
	for _, tt := range tests {
		var d Decision
		tt.e.Select(tt.q, &d) // warm the time zone cache
		if n := testing.AllocsPerRun(100, func() { tt.e.Select(tt.q, &d) }); n != 0 {
			t.Errorf("%s: %.1f allocations per Select", tt.name, n)
		}
	}
}

func TestExplain(t *testing.T) {
	e := NewEngine(tsnap(geoSite(MethodGeo, 2)), geoLocator)
	tests := []struct {
		client string
		want   []string // substrings of the lines, in order
	}{
		{"192.0.2.55", []string{"pool: 6 up", "key: 192.0.2.0/24", "rule: geo: client at 42.36,-71.06 (network 192.0.0.0/16); nearest node 306 km", "answer: ny, la", "scope: /16"}},
		{"100.64.5.7", []string{"pool: 6 up", "key: 100.64.5.0/24", "rule: prefix: 100.64.5.0/24", "then: geo: client at 39.74,-104.99", "answer: tyo, la", "scope: /24"}},
		{"198.18.0.1", []string{"pool: 6 up", "key: 198.18.0.0/24", "rule: geo-unknown", "answer: ", "scope: /32"}},
	}
	for _, tt := range tests {
		lines := selectOne(e, q(tt.client)).Explain()
		if len(lines) != len(tt.want) {
			t.Errorf("%s: explain %q, want %d lines", tt.client, lines, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("%s: line %d %q, want %q in it", tt.client, i, lines[i], w)
			}
		}
	}
	var empty Decision
	empty.Pool = PoolEmpty
	if l := empty.Explain(); len(l) != 1 {
		t.Errorf("empty decision explains as %q", l)
	}
}

// TestSelectConcurrent runs decisions from several goroutines on one engine
// (run with -race): the engine is immutable but for its zone cache.
func TestSelectConcurrent(t *testing.T) {
	site := tsite(MethodTimezone, 2, tnode("ber", zone("Europe/Berlin")), tnode("nyc", zone("America/New_York")))
	e := NewEngine(tsnap(site), geoLocator)
	want := selectOne(e, q("198.51.100.7")).Nodes[0]
	done := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var d Decision
			for i := 0; i < 2000; i++ {
				e.Select(q("198.51.100.7"), &d)
				if d.Nodes[0] != want {
					done <- "decision changed under concurrency"
					return
				}
				e.Select(q("100.64.0.1"), &d) // Denver: another zone to cache
			}
			done <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

func TestPoolRuleNames(t *testing.T) {
	for p := PoolUp; p <= PoolEmpty+1; p++ {
		if s := p.String(); s == "" || (p <= PoolEmpty && strings.HasPrefix(s, "pool(")) {
			t.Errorf("pool %d named %q", p, s)
		}
	}
	for r := RuleNone; r <= RuleAnycast+1; r++ {
		if s := r.String(); s == "" || (r <= RuleAnycast && strings.HasPrefix(s, "rule(")) {
			t.Errorf("rule %d named %q", r, s)
		}
	}
}

// TestSteady: a timezone decision holds between the zone transitions
// around it (the nearest of the node zones' and the client's), and is
// the same at every instant in between; other decisions hold for ever.
func TestSteady(t *testing.T) {
	site := tsite(MethodTimezone, 1,
		tnode("ber", zone("Europe/Berlin")),
		tnode("lon", zone("Europe/London")),
		tnode("nyc", zone("America/New_York")),
	)
	e := NewEngine(tsnap(site), geoLocator)
	eu := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)             // EU summer time starts
	us := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)              // US summer time starts
	for _, client := range []string{"192.0.2.1", "198.51.100.7"} { // offset given; GeoIP Paris
		qu := q(client)
		qu.Now = eu.Add(-time.Minute)
		if client == "192.0.2.1" {
			qu.Offset, qu.HasOffset = time.Hour, true
		}
		d := selectOne(e, qu)
		from, until := e.Steady(qu, d)
		mustEqual(t, client+" from", from, us)
		mustEqual(t, client+" until", until, eu)
		for _, at := range []time.Time{from, from.Add(time.Hour), until.Add(-time.Nanosecond)} {
			qa := qu
			qa.Now = at
			mustEqual(t, client+" node at "+at.String(), names(selectOne(e, qa))[0], names(d)[0])
		}
	}
	g := NewEngine(tsnap(tsite(MethodGeo, 1, tnode("ber", zone("Europe/Berlin")), tnode("nyc", zone("America/New_York")))), geoLocator)
	qu := q("198.51.100.7")
	d := selectOne(g, qu)
	if from, until := g.Steady(qu, d); !from.IsZero() || !until.IsZero() {
		t.Errorf("geo decision steady in [%v, %v), want for ever", from, until)
	}
}
