package web

import (
	"testing"
	"time"
)

// TestNonceCache: fresh, replayed, expired and full.
func TestNonceCache(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newNonceCache(time.Minute, 2)
	steps := []struct {
		nonce string
		at    time.Duration
		want  nonceResult
	}{
		{"a", 0, nonceFresh},
		{"a", time.Second, nonceReplay},
		{"b", 2 * time.Second, nonceFresh},
		{"c", 3 * time.Second, nonceFull},                // two live nonces: full, refused
		{"a", 61 * time.Second, nonceFresh},              // a expired: its timestamp can no longer pass
		{"b", 61 * time.Second, nonceReplay},             // b still live
		{"c", 63 * time.Second, nonceFresh},              // b expired: room again
		{"b", 200 * time.Second, nonceFresh},             // everything expired
		{"b", 200*time.Second + 1, nonceReplay},          // and remembered again
		{"d", 200*time.Second + 2, nonceFresh},           // second slot
		{"e", 200*time.Second + 3, nonceFull},            // full again
		{"e", 260*time.Second + 3, nonceFresh},           // b and d expired
		{"e", 260*time.Second + 4, nonceReplay},          // replay
		{"f", 260*time.Second + 5, nonceFresh},           // second slot
		{"f", 260*time.Second + 6, nonceReplay},          // replay
		{"g", 400 * time.Second, nonceFresh},             // all expired
		{"g", 400*time.Second + time.Minute, nonceFresh}, // expiry is exclusive
	}
	for i, st := range steps {
		if got := c.add(st.nonce, t0.Add(st.at)); got != st.want {
			t.Errorf("step %d: add(%q, +%s) = %d, want %d", i, st.nonce, st.at, got, st.want)
		}
	}
}
