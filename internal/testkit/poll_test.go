package testkit_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	testkit.Eventually(t, time.Second, "three calls", func() bool { return n.Add(1) >= 3 })
	start := time.Now()
	if testkit.Poll(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll of a false condition held")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("Poll gave up after %s, want about 50ms", d)
	}
}
