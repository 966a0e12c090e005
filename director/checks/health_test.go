package checks

import (
	"errors"
	"testing"

	"github.com/meridian-traffic/meridian/cluster"
)

// TestHysteresis steps probe results through rise and fall.
func TestHysteresis(t *testing.T) {
	fail := errors.New("connection refused")
	tests := []struct {
		name       string
		rise, fall int
		start      cluster.Health
		probes     string // s = success, f = failure
		want       string // the state after each probe: u, d, ? (unknown)
		lastReason string
	}{
		{"unknown rises after rise successes", 2, 3, cluster.Unknown, "ss", "?u", "2 checks passed"},
		{"unknown falls after fall failures", 2, 3, cluster.Unknown, "fff", "??d", "3 failures: connection refused"},
		{"one failure does not fall", 2, 3, cluster.Up, "fsffsfff", "uuuuuuud", "3 failures: connection refused"},
		{"one success does not rise", 2, 2, cluster.Down, "sfsfss", "dddddu", "2 checks passed"},
		{"rise 1 fall 1 follows each probe", 1, 1, cluster.Unknown, "sfsf", "udud", "1 failures: connection refused"},
		{"restored up state holds", 2, 3, cluster.Up, "ssss", "uuuu", ""},
	}
	short := map[cluster.Health]byte{cluster.Up: 'u', cluster.Down: 'd', cluster.Unknown: '?'}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hysteresis{rise: tt.rise, fall: tt.fall, state: tt.start}
			var got []byte
			reason := ""
			for _, p := range tt.probes {
				var err error
				if p == 'f' {
					err = fail
				}
				if changed, r := h.observe(err); changed {
					reason = r
				}
				got = append(got, short[h.state])
			}
			if string(got) != tt.want || reason != tt.lastReason {
				t.Errorf("states %s reason %q, want %s %q", got, reason, tt.want, tt.lastReason)
			}
		})
	}
}
