package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The scale: 1,000 nodes, 100,000 override prefixes.
const (
	benchNodes    = 1000
	benchPrefixes = 100_000
)

// gridLocator places every /16 on a grid over the globe: a Locator that
// costs nothing, so benchmarks measure the engine alone.
type gridLocator struct{}

func (gridLocator) Locate(a netip.Addr) (Location, bool) {
	b := a.As16()
	i, j := b[12], b[13]
	if !a.Is4() {
		i, j = b[2], b[3]
	}
	n, _ := a.Prefix(16)
	return Location{Lat: float64(i)/255*170 - 85, Lon: float64(j)/255*360 - 180, Network: n}, true
}

var zonesForBench = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata", "Africa/Lagos"}

// benchSite is a large site with deterministic random nodes and prefixes.
func benchSite(method Method, nPrefixes int) *Site {
	r := rand.New(rand.NewPCG(1, 2))
	nodes := make([]Node, benchNodes)
	for i := range nodes {
		nodes[i] = tnode(fmt.Sprintf("n%04d", i), at(r.Float64()*140-70, r.Float64()*360-180),
			weight(50+r.IntN(150)), zone(zonesForBench[i%len(zonesForBench)]))
	}
	for i := 0; i < nPrefixes; i++ {
		// Lengths 16-28 over the whole IPv4 space: a client hits an
		// override prefix about a third of the time.
		bits := 16 + r.IntN(13)
		a := netip.AddrFrom4([4]byte{byte(r.IntN(224)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		p, _ := a.Prefix(bits)
		n := &nodes[r.IntN(len(nodes))]
		n.Prefixes = append(n.Prefixes, p)
	}
	return tsite(method, 1, nodes...)
}

func benchQueries(n int) []Query {
	r := rand.New(rand.NewPCG(3, 4))
	qs := make([]Query, n)
	for i := range qs {
		a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		qs[i] = Query{Client: a, SourceBits: 32, Now: july}
	}
	return qs
}

func BenchmarkSelect(b *testing.B) {
	cases := []struct {
		name     string
		method   Method
		prefixes int
	}{
		{"geo+prefixes", MethodGeo, benchPrefixes},
		{"random+prefixes", MethodRandom, benchPrefixes},
		{"random", MethodRandom, 0},
		{"geo", MethodGeo, 0},
		{"timezone", MethodTimezone, 0},
	}
	qs := benchQueries(1 << 14)
	for _, c := range cases {
		e := NewEngine(tsnap(benchSite(c.method, c.prefixes)), gridLocator{})
		b.Run(c.name, func(b *testing.B) {
			var d Decision
			matched := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				e.Select(qs[i&(len(qs)-1)], &d)
				if d.Rule == RulePrefix {
					matched++
				}
			}
			b.ReportMetric(float64(matched)/float64(b.N), "prefix-share")
		})
	}
}

func BenchmarkNewEngine(b *testing.B) {
	for _, c := range []struct {
		name     string
		method   Method
		prefixes int
	}{
		{"geo+prefixes", MethodGeo, benchPrefixes},
		{"random", MethodRandom, 0},
		{"timezone", MethodTimezone, 0},
	} {
		snap := tsnap(benchSite(c.method, c.prefixes))
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewEngine(snap, gridLocator{})
			}
		})
	}
}
