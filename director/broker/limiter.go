package broker

import (
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// maxLimiterSources bounds the rate limiter's table. Past it, idle
// sources are forgotten; when none is idle, new sources are refused until
// some are: a flood of distinct sources must not grow memory unbounded.
const maxLimiterSources = 1 << 16

// limiter is a token bucket per source address.
type limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	sources map[netip.Addr]*tokens
}

type tokens struct {
	n    float64
	last time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), sources: map[netip.Addr]*tokens{}}
}

// allow takes one token of src's bucket; when empty it says how long
// until the next one.
func (l *limiter) allow(src netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.sources[src]
	if !ok {
		if len(l.sources) >= maxLimiterSources {
			l.sweep(now)
			if len(l.sources) >= maxLimiterSources {
				return false, time.Second
			}
		}
		b = &tokens{n: l.burst, last: now}
		l.sources[src] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.n = min(l.burst, b.n+el.Seconds()*l.rate)
	}
	b.last = now
	if b.n >= 1 {
		b.n--
		return true, 0
	}
	if l.rate <= 0 {
		return false, time.Minute
	}
	return false, time.Duration((1 - b.n) / l.rate * float64(time.Second))
}

// sweep forgets sources whose bucket has refilled: they are as if new.
func (l *limiter) sweep(now time.Time) {
	for a, b := range l.sources {
		if b.n+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.sources, a)
		}
	}
}

// sourceAddr is the request's source address.
func sourceAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
