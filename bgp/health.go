package bgp

import (
	"context"
	"errors"
	"time"

	"github.com/meridian-traffic/meridian/health"
)

// checkResult is one round of all probes.
type checkResult struct {
	ok     bool
	detail string // the first failing probe and why; "" when ok
	at     time.Time
}

// runChecks probes every interval, starting at once, and sends each result
// to out until ctx ends. All probes of a round share one deadline.
func runChecks(ctx context.Context, cs checkSettings, out chan<- checkResult) {
	t := time.NewTicker(cs.interval)
	defer t.Stop()
	for {
		r := checkOnce(ctx, cs)
		if ctx.Err() != nil {
			return
		}
		select {
		case out <- r:
		case <-ctx.Done():
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func checkOnce(ctx context.Context, cs checkSettings) checkResult {
	if err := health.Run(ctx, cs.timeout, cs.probes...); err != nil {
		return checkResult{detail: err.Error(), at: time.Now()}
	}
	return checkResult{ok: true, at: time.Now()}
}

// err is the result as a probe result for rise/fall: nil when ok.
func (r checkResult) err() error {
	if r.ok {
		return nil
	}
	return errors.New(r.detail)
}
