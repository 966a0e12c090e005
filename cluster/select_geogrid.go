package cluster

import "math"

// geoGrid answers most nearest-location queries without the tree: the
// globe is cut into cells of gridDegrees, and each cell lists the only
// places that can be among the k nearest to any point inside it.
//
// Why the list is complete: let c be the cell's centre, r the largest
// chord from c to the cell, Dk the k-th nearest place's chord from c. For a
// point p of the cell the k-th nearest distance is at most Dk + r (it moves
// by at most |p-c|), so each of p's k nearest places g has
// |g-c| <= |g-p| + |p-c| <= Dk + 2r. Chords are straight-line distances, so
// the triangle inequality holds. Scanning the list with the same ordering
// as the tree gives the tree's answer exactly.
type geoGrid struct {
	k     int     // the list holds every candidate for up to k nearest
	start []int32 // cell i's candidates are cand[start[i]:start[i+1]]; -1 start: use the tree
	cand  []int32 // indexes into geoIndex.pts
	dead  []bool  // cells whose list would be too long: the tree answers
}

const (
	// gridMinPlaces: below this a scan of the tree's leaves is as quick.
	gridMinPlaces = 32
	// gridDegrees: 2-degree cells (16,200 of them) keep lists short for
	// thousands of places while the grid builds in tens of milliseconds.
	gridDegrees = 2
	gridRows    = 180 / gridDegrees
	gridCols    = 360 / gridDegrees
	// gridMaxList: a cell far from a dense cluster can see hundreds of
	// places at nearly the same distance; such cells use the tree.
	gridMaxList = 48
)

func validLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

func newGeoGrid(x *geoIndex, answers int) *geoGrid {
	g := &geoGrid{k: min(answers, len(x.pts)), start: make([]int32, gridRows*gridCols+1), dead: make([]bool, gridRows*gridCols)}
	var list []int32
	for row := 0; row < gridRows; row++ {
		lat0 := float64(row*gridDegrees - 90)
		for col := 0; col < gridCols; col++ {
			i := row*gridCols + col
			g.start[i] = int32(len(g.cand))
			lon0 := float64(col*gridDegrees - 180)
			c := unitVector(lat0+gridDegrees/2.0, lon0+gridDegrees/2.0)
			r := 0.0
			for _, dl := range [3]float64{0, gridDegrees / 2.0, gridDegrees} {
				for _, dn := range [3]float64{0, gridDegrees / 2.0, gridDegrees} {
					r = max(r, math.Sqrt(chord2(c, unitVector(lat0+dl, lon0+dn))))
				}
			}
			// A little slack covers the rounding of chord computations.
			r = r*1.001 + 1e-9
			var near nearest
			near.cap = g.k
			x.searchRange(0, len(x.pts), c, &near)
			bound := math.Sqrt(near.e[near.n-1].c2) + 2*r
			list = x.within(c, bound*bound, list[:0])
			if len(list) > gridMaxList {
				g.dead[i] = true
				continue
			}
			g.cand = append(g.cand, list...)
		}
	}
	g.start[len(g.start)-1] = int32(len(g.cand))
	return g
}

// cell returns the cell holding (lat, lon), or -1 when the tree must answer.
func (g *geoGrid) cell(lat, lon float64) int {
	row := min(int((lat+90)/gridDegrees), gridRows-1)
	col := min(int((lon+180)/gridDegrees), gridCols-1)
	if row < 0 || col < 0 {
		return -1
	}
	i := row*gridCols + col
	if g.dead[i] {
		return -1
	}
	return i
}

// within appends the indexes of the points within chord² r2 of q.
func (x *geoIndex) within(q vec3, r2 float64, out []int32) []int32 {
	return x.withinRange(0, len(x.pts), q, r2, out)
}

func (x *geoIndex) withinRange(lo, hi int, q vec3, r2 float64, out []int32) []int32 {
	if hi-lo <= kdLeaf {
		for i := lo; i < hi; i++ {
			if chord2(x.pts[i].v, q) <= r2 {
				out = append(out, int32(i))
			}
		}
		return out
	}
	mid := int(uint(lo+hi) >> 1)
	p := &x.pts[mid]
	if chord2(p.v, q) <= r2 {
		out = append(out, int32(mid))
	}
	d := q[p.axis] - p.v[p.axis]
	if d <= 0 || d*d <= r2 {
		out = x.withinRange(lo, mid, q, r2, out)
	}
	if d >= 0 || d*d <= r2 {
		out = x.withinRange(mid+1, hi, q, r2, out)
	}
	return out
}
