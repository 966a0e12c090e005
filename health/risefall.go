package health

import (
	"fmt"

	"github.com/meridian-traffic/meridian/cluster"
)

// RiseFall turns probe results into a health state with hysteresis: up
// after rise successes in a row, down after fall failures in a row, so one
// lost probe does not move anything. The zero value is not usable; make
// one with NewRiseFall. It is not safe for concurrent use.
type RiseFall struct {
	rise, fall int
	state      cluster.Health
	ok, bad    int // successes and failures in a row
}

// NewRiseFall returns a RiseFall in state, e.g. cluster.Unknown before any
// verdict or the state a snapshot holds. rise and fall below 1 act as 1.
func NewRiseFall(rise, fall int, state cluster.Health) *RiseFall {
	return &RiseFall{rise: rise, fall: fall, state: state}
}

// Observe records one probe result (nil: success) and reports whether the
// state changed, with its reason: "2 checks passed" or
// "3 failures: <the last error>".
func (r *RiseFall) Observe(err error) (changed bool, reason string) {
	if err == nil {
		r.ok, r.bad = r.ok+1, 0
		if r.state != cluster.Up && r.ok >= r.rise {
			r.state = cluster.Up
			return true, fmt.Sprintf("%d checks passed", r.ok)
		}
		return false, ""
	}
	r.ok, r.bad = 0, r.bad+1
	if r.state != cluster.Down && r.bad >= r.fall {
		r.state = cluster.Down
		return true, fmt.Sprintf("%d failures: %v", r.bad, err)
	}
	return false, ""
}

// State is the current verdict.
func (r *RiseFall) State() cluster.Health { return r.state }

// Up reports whether the state is cluster.Up.
func (r *RiseFall) Up() bool { return r.state == cluster.Up }

// Set puts the state back, e.g. to forget a verdict that could not be
// stored; the runs are kept, so the next result that keeps the run going
// reports the change again.
func (r *RiseFall) Set(state cluster.Health) { r.state = state }
