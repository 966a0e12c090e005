package relay

import (
	"testing"
	"time"
)

// TestBucket checks the burst (a fifth of a second, at least minBurst),
// the refill rate, and that a nil bucket never limits.
func TestBucket(t *testing.T) {
	var none *bucket
	if newBucket(0, time.Now()) != nil || !none.take(1<<20, time.Now()) {
		t.Fatal("an uncapped bucket limits")
	}
	now := time.Now()
	for _, tc := range []struct {
		bps   uint64
		burst int
	}{{10_000, minBurst}, {1_000_000, 200_000}} {
		b := newBucket(tc.bps, now)
		if !b.take(tc.burst, now) {
			t.Errorf("%d B/s: a full burst of %d refused", tc.bps, tc.burst)
		}
		if b.take(1, now) {
			t.Errorf("%d B/s: a byte passed an empty bucket", tc.bps)
		}
		// A tenth of a second refills a tenth of the rate, no more.
		later := now.Add(100 * time.Millisecond)
		refill := int(tc.bps / 10)
		if !b.take(refill, later) {
			t.Errorf("%d B/s: %d bytes refused after 100ms", tc.bps, refill)
		}
		if b.take(1, later) {
			t.Errorf("%d B/s: more than the refill passed", tc.bps)
		}
		// Idle time never fills it beyond the burst.
		idle := now.Add(time.Hour)
		if b.take(tc.burst+1, idle) {
			t.Errorf("%d B/s: more than a burst passed after idling", tc.bps)
		}
		if !b.take(tc.burst, idle) {
			t.Errorf("%d B/s: a burst refused after idling", tc.bps)
		}
	}
}
