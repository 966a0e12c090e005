package cluster

import (
	"math"
	"slices"
)

// earthRadiusKm is the mean Earth radius (IUGG), for reporting distances.
const earthRadiusKm = 6371.0088

// vec3 is a point on the unit sphere. The nearest node by great-circle
// distance is the one with the smallest straight-line (chord) distance, so
// the index compares squared chords and never calls a trigonometric
// function per query.
type vec3 [3]float64

func unitVector(lat, lon float64) vec3 {
	sla, cla := math.Sincos(lat * math.Pi / 180)
	slo, clo := math.Sincos(lon * math.Pi / 180)
	return vec3{cla * clo, cla * slo, sla}
}

func chord2(a, b vec3) float64 {
	x, y, z := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return x*x + y*y + z*z
}

// chordKm turns a squared chord on the unit sphere into kilometres along the
// great circle.
func chordKm(c2 float64) float64 {
	return 2 * math.Asin(min(1, math.Sqrt(c2)/2)) * earthRadiusKm
}

// geoIndex groups the candidates by location (nodes at the same place tie
// and are chosen among by rendezvous) and finds the nearest groups with a
// static 3-d tree.
type geoIndex struct {
	groups []group   // one per distinct location
	pts    []kdPoint // the tree, implicit: the median of [lo,hi) splits it
	grid   *geoGrid  // nil for small sites
}

type kdPoint struct {
	v     vec3
	group int32
	axis  uint8
}

func newGeoIndex(nodes []*Node, members []member, answers int) *geoIndex {
	type place struct{ lat, lon float64 }
	at := map[place]int{}
	var ms [][]member
	var pts []kdPoint
	for i, n := range nodes {
		p := place{n.Lat, n.Lon}
		g, ok := at[p]
		if !ok {
			g = len(ms)
			at[p] = g
			ms = append(ms, nil)
			pts = append(pts, kdPoint{v: unitVector(n.Lat, n.Lon), group: int32(g)})
		}
		ms[g] = append(ms[g], members[i])
	}
	x := &geoIndex{groups: make([]group, len(ms)), pts: pts}
	for g := range ms {
		x.groups[g] = newGroup(ms[g], answers)
	}
	buildKD(x.pts)
	if len(x.pts) > gridMinPlaces {
		x.grid = newGeoGrid(x, answers)
	}
	return x
}

// kdLeaf is the size at which a range is scanned instead of split: a
// straight loop over eight points costs less than the mispredicted
// branches of three more tree levels.
const kdLeaf = 8

// buildKD arranges pts so the median of every range longer than kdLeaf
// splits it on the axis where the range is widest.
func buildKD(pts []kdPoint) {
	if len(pts) <= kdLeaf {
		return
	}
	var lo, hi vec3
	lo, hi = pts[0].v, pts[0].v
	for _, p := range pts[1:] {
		for a := 0; a < 3; a++ {
			lo[a], hi[a] = min(lo[a], p.v[a]), max(hi[a], p.v[a])
		}
	}
	axis := 0
	for a := 1; a < 3; a++ {
		if hi[a]-lo[a] > hi[axis]-lo[axis] {
			axis = a
		}
	}
	// Sorting the whole range is O(n log n) per level; at a few thousand
	// locations it is well under a millisecond, so no selection algorithm.
	slices.SortFunc(pts, func(p, q kdPoint) int {
		if p.v[axis] != q.v[axis] {
			if p.v[axis] < q.v[axis] {
				return -1
			}
			return 1
		}
		return int(p.group - q.group)
	})
	mid := len(pts) / 2
	pts[mid].axis = uint8(axis)
	buildKD(pts[:mid])
	buildKD(pts[mid+1:])
}

// nearest keeps the closest location groups, closest first.
type nearest struct {
	e   [2 * MaxAnswers]nearGroup
	n   int
	cap int
}

type nearGroup struct {
	group int32
	c2    float64
}

// add offers a group. Distinct places at exactly the same distance (only
// possible for symmetric coordinates) keep the lower group index, which is
// config order, so the result never depends on the tree's shape.
func (t *nearest) add(g int32, c2 float64) {
	if t.n == t.cap && !nearer(g, c2, t.e[t.n-1]) {
		return
	}
	t.n = insertBest(t.e[:], t.n, t.cap, nearGroup{g, c2}, func(a, b nearGroup) bool {
		return nearer(a.group, a.c2, b)
	})
}

func nearer(g int32, c2 float64, o nearGroup) bool {
	return c2 < o.c2 || (c2 == o.c2 && g < o.group)
}

// search fills t (cap set by the caller, at least 1) with the groups nearest
// to q, at latitude lat and longitude lon.
func (x *geoIndex) search(lat, lon float64, q vec3, t *nearest) {
	if x.grid != nil && t.cap <= x.grid.k {
		if c := x.grid.cell(lat, lon); c >= 0 {
			for _, i := range x.grid.cand[x.grid.start[c]:x.grid.start[c+1]] {
				t.add(x.pts[i].group, chord2(x.pts[i].v, q))
			}
			return
		}
	}
	x.searchRange(0, len(x.pts), q, t)
}

func (x *geoIndex) searchRange(lo, hi int, q vec3, t *nearest) {
	if lo >= hi {
		return
	}
	if hi-lo <= kdLeaf {
		for i := lo; i < hi; i++ {
			t.add(x.pts[i].group, chord2(x.pts[i].v, q))
		}
		return
	}
	mid := int(uint(lo+hi) >> 1)
	p := &x.pts[mid]
	t.add(p.group, chord2(p.v, q))
	d := q[p.axis] - p.v[p.axis]
	first, second := [2]int{lo, mid}, [2]int{mid + 1, hi}
	if d >= 0 {
		first, second = second, first
	}
	x.searchRange(first[0], first[1], q, t)
	// The other side can hold a nearer point only if the splitting plane is
	// nearer than the current worst; equal is searched too so that exact
	// ties resolve by group index as add promises.
	if t.n < t.cap || d*d <= t.e[t.n-1].c2 {
		x.searchRange(second[0], second[1], q, t)
	}
}
