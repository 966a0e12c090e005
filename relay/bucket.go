package relay

import (
	"time"

	"golang.org/x/time/rate"
)

// bucket is a token bucket in bytes. A nil *bucket never limits.
type bucket struct {
	lim *rate.Limiter
}

// minBurst lets one full-size packet through a very low cap.
const minBurst = 4 * 1600

// newBucket returns a bucket for bps bytes per second, or nil for 0. The
// burst is a fifth of a second of traffic: enough to absorb scheduling
// jitter without letting a sender run far ahead of its cap. The bucket
// starts full.
func newBucket(bps uint64, _ time.Time) *bucket {
	if bps == 0 {
		return nil
	}
	burst := max(bps/5, minBurst)
	return &bucket{lim: rate.NewLimiter(rate.Limit(bps), int(min(burst, uint64(maxBurst))))}
}

// maxBurst keeps the burst an int on every platform.
const maxBurst = 1<<31 - 1

// take reports whether n bytes may pass now, and takes them if so.
func (b *bucket) take(n int, now time.Time) bool {
	if b == nil {
		return true
	}
	return b.lim.AllowN(now, n)
}
