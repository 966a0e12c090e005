package broker

import (
	"net/netip"
	"testing"
	"time"
)

// TestLimiter steps one token bucket per source through bursts and refills.
func TestLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	t0 := time.Unix(1_700_000_000, 0)
	l := newLimiter(2, 3)
	for _, s := range []struct {
		at   time.Duration
		src  netip.Addr
		ok   bool
		wait time.Duration
	}{
		{0, a, true, 0},
		{0, a, true, 0},
		{0, a, true, 0},
		{0, a, false, 500 * time.Millisecond}, // burst spent
		{0, b, true, 0},                       // its own bucket
		{250 * time.Millisecond, a, false, 250 * time.Millisecond},
		{500 * time.Millisecond, a, true, 0}, // one token refilled
		{500 * time.Millisecond, a, false, 500 * time.Millisecond},
		{time.Hour, a, true, 0}, // refills to the burst, not beyond
		{time.Hour, a, true, 0},
		{time.Hour, a, true, 0},
		{time.Hour, a, false, 500 * time.Millisecond},
	} {
		ok, wait := l.allow(s.src, t0.Add(s.at))
		if ok != s.ok || (!ok && (wait < s.wait-time.Millisecond || wait > s.wait+time.Millisecond)) {
			t.Errorf("at %s from %s: %v (wait %s), want %v (wait %s)", s.at, s.src, ok, wait, s.ok, s.wait)
		}
	}
	l.sweep(t0.Add(2 * time.Hour))
	if len(l.sources) != 0 {
		t.Errorf("sweep left %d refilled sources", len(l.sources))
	}
}
