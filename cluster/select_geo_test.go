package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGeoIndexMatchesBruteForce checks the grid and the tree against a scan
// of every place, over many sites and query points.
func TestGeoIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, places := range []int{5, 40, 300, 2000} {
		for _, answers := range []int{1, 3, MaxAnswers} {
			t.Run(fmt.Sprintf("%d places, %d answers", places, answers), func(t *testing.T) {
				var nodes []*Node
				var members []member
				for i := 0; i < places; i++ {
					// Half of the places crowd into Europe so that some
					// grid cells far away see many candidates.
					lat, lon := r.Float64()*180-90, r.Float64()*360-180
					if i%2 == 0 {
						lat, lon = 40+r.Float64()*20, r.Float64()*30
					}
					nodes = append(nodes, &Node{Name: fmt.Sprint(i), Lat: lat, Lon: lon})
					members = append(members, member{node: int32(i), weight: 1})
				}
				x := newGeoIndex(nodes, members, answers)
				if (x.grid != nil) != (places > gridMinPlaces) {
					t.Fatalf("grid built: %v", x.grid != nil)
				}
				for i := 0; i < 5000; i++ {
					lat, lon := r.Float64()*180-90, r.Float64()*360-180
					if i%100 == 0 { // the edges of the grid
						lat, lon = float64(i%3-1)*90, float64(i%3-1)*180
					}
					q := unitVector(lat, lon)
					var got, want nearest
					got.cap, want.cap = answers, answers
					x.search(lat, lon, q, &got)
					for _, p := range x.pts {
						want.add(p.group, chord2(p.v, q))
					}
					if got.n != want.n || got.e != want.e {
						t.Fatalf("at %.3f,%.3f: index %v, brute force %v", lat, lon, got.e[:got.n], want.e[:want.n])
					}
				}
			})
		}
	}
}

func TestChordKm(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		km                     float64
	}{
		{"same place", 50, 8, 50, 8, 0},
		{"antipodes", 0, 0, 0, 180, 20015},
		{"Frankfurt-New York", 50.11, 8.68, 40.71, -74.01, 6205},
		{"across the date line", 0, 179.5, 0, -179.5, 111},
	}
	for _, tt := range tests {
		got := chordKm(chord2(unitVector(tt.lat1, tt.lon1), unitVector(tt.lat2, tt.lon2)))
		if got < tt.km*0.995-1 || got > tt.km*1.005+1 {
			t.Errorf("%s: %.1f km, want %.0f", tt.name, got, tt.km)
		}
	}
}
