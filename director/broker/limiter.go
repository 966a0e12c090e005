package broker

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterSources bounds the rate limiter's table. Past it, idle
// sources are forgotten; when none is idle, new sources are refused until
// some are: a flood of distinct sources must not grow memory unbounded.
const maxLimiterSources = 1 << 16

// limiter is a token bucket per source address.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	sources map[netip.Addr]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, sources: map[netip.Addr]*rate.Limiter{}}
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
		b = rate.NewLimiter(l.rate, l.burst)
		l.sources[src] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute // a zero burst never admits
	}
	if wait := r.DelayFrom(now); wait > 0 {
		// Refused requests do not spend tokens.
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweep forgets sources whose bucket has refilled: they are as if new.
func (l *limiter) sweep(now time.Time) {
	for a, b := range l.sources {
		if b.TokensAt(now) >= float64(l.burst) {
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
