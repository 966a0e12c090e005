package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

var short = map[cluster.Health]byte{cluster.Up: 'u', cluster.Down: 'd', cluster.Unknown: '?'}

// TestRiseFall steps probe results through rise and fall.
func TestRiseFall(t *testing.T) {
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
		{"restored down state holds", 2, 3, cluster.Down, "ffff", "dddd", ""},
		{"a failure resets the rise run", 3, 1, cluster.Down, "ssfsss", "dddddu", "3 checks passed"},
		{"a success resets the fall run", 1, 3, cluster.Up, "ffsfff", "uuuuud", "3 failures: connection refused"},
		{"rise and fall below 1 act as 1", 0, 0, cluster.Unknown, "sf", "ud", "1 failures: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewRiseFall(tt.rise, tt.fall, tt.start)
			var got []byte
			reason := ""
			for _, p := range tt.probes {
				var err error
				if p == 'f' {
					err = fail
				}
				if changed, r := h.Observe(err); changed {
					reason = r
				}
				got = append(got, short[h.State()])
				if h.Up() != (h.State() == cluster.Up) {
					t.Fatalf("Up() %v in state %s", h.Up(), h.State())
				}
			}
			if string(got) != tt.want || reason != tt.lastReason {
				t.Errorf("states %s reason %q, want %s %q", got, reason, tt.want, tt.lastReason)
			}
		})
	}
}

// TestRiseFallSet: a verdict put back is reported again by the next
// result that keeps the run going.
func TestRiseFallSet(t *testing.T) {
	h := NewRiseFall(2, 2, cluster.Unknown)
	h.Observe(nil)
	if changed, _ := h.Observe(nil); !changed || h.State() != cluster.Up {
		t.Fatalf("state %s after 2 passes, want up", h.State())
	}
	h.Set(cluster.Unknown) // not stored
	if changed, reason := h.Observe(nil); !changed || reason != "3 checks passed" || !h.Up() {
		t.Errorf("retry: changed %v reason %q state %s, want up again", changed, reason, h.State())
	}
}

// TestRiseFallTimeouts: a probe that does not answer in time is a failure
// like any other, each round bounded by the timeout, and the target comes
// back after rise answers.
func TestRiseFallTimeouts(t *testing.T) {
	const timeout = 40 * time.Millisecond
	var hung bool
	p := Probe{Name: "tcp 192.0.2.1:80", Check: func(ctx context.Context) error {
		if hung {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	h := NewRiseFall(2, 3, cluster.Up)
	steps := []struct {
		hung   bool
		want   cluster.Health
		reason string // of the change at this step; "" for none
	}{
		{true, cluster.Up, ""},
		{true, cluster.Up, ""},
		{true, cluster.Down, "3 failures: tcp 192.0.2.1:80: no answer within 40ms"},
		{false, cluster.Down, ""},
		{true, cluster.Down, ""},
		{false, cluster.Down, ""},
		{false, cluster.Up, "2 checks passed"},
	}
	for i, s := range steps {
		hung = s.hung
		start := time.Now()
		err := Run(context.Background(), timeout, p)
		if d := time.Since(start); d > timeout+200*time.Millisecond {
			t.Fatalf("step %d: round took %s, want it bounded by %s", i, d, timeout)
		}
		changed, reason := h.Observe(err)
		if h.State() != s.want || reason != s.reason || changed != (s.reason != "") {
			t.Fatalf("step %d: state %s changed %v reason %q, want %s %q", i, h.State(), changed, reason, s.want, s.reason)
		}
	}
}
