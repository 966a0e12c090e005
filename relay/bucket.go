package relay

import (
	"sync"
	"time"
)

// bucket is a token bucket in bytes. A nil *bucket never limits.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// minBurst lets one full-size packet through a very low cap.
const minBurst = 4 * 1600

// newBucket returns a bucket for bps bytes per second, or nil for 0. The
// burst is a fifth of a second of traffic: enough to absorb scheduling
// jitter without letting a sender run far ahead of its cap.
func newBucket(bps uint64, now time.Time) *bucket {
	if bps == 0 {
		return nil
	}
	b := &bucket{rate: float64(bps), burst: max(float64(bps)/5, minBurst), last: now}
	b.tokens = b.burst
	return b
}

// take reports whether n bytes may pass now, and takes them if so.
func (b *bucket) take(n int, now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
