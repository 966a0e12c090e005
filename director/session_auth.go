package director

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Session API defaults.
const (
	DefaultSessionTTL    = 2 * time.Minute
	DefaultSessionMaxAge = 12 * time.Hour
	DefaultSessionRate   = 10
	DefaultSessionBurst  = 20
	// maxSessionMaxAge is the relays' limit on how far in the future a
	// credential may expire (relay.DefaultMaxCredentialTTL).
	maxSessionMaxAge = 48 * time.Hour
)

// sessionDefaults fills and checks the session fields of Config.
func (c *Config) sessionDefaults() []error {
	var errs []error
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	if c.SessionRate == 0 {
		c.SessionRate = DefaultSessionRate
	}
	if c.SessionBurst == 0 {
		c.SessionBurst = DefaultSessionBurst
	}
	if c.SessionTTL < time.Second {
		errs = append(errs, fmt.Errorf("session ttl %s: want at least 1s", c.SessionTTL))
	}
	if c.SessionMaxAge < c.SessionTTL || c.SessionMaxAge > maxSessionMaxAge {
		errs = append(errs, fmt.Errorf("session max age %s: want between the session ttl and %s", c.SessionMaxAge, maxSessionMaxAge))
	}
	if c.SessionRate < 0 || math.IsNaN(c.SessionRate) || math.IsInf(c.SessionRate, 0) || c.SessionBurst < 1 {
		errs = append(errs, errors.New("session rate limit: want a positive rate and burst"))
	}
	for i, t := range c.ClientTokens {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, fmt.Errorf("client token %d is empty", i+1))
		} else if t == c.AdminToken {
			errs = append(errs, fmt.Errorf("client token %d equals the admin token", i+1))
		}
	}
	return errs
}

// ReadTokenFile reads client API tokens: one per line; blank lines and
// lines starting with # are skipped. The error never quotes a token.
func ReadTokenFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client tokens: %w", err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("client tokens: %s holds no token", path)
	}
	return out, nil
}

// tokenSet checks bearer tokens against the configured client tokens in
// constant time: every token is compared, and hashing first hides lengths.
type tokenSet [][sha256.Size]byte

func newTokenSet(tokens []string) tokenSet {
	s := make(tokenSet, len(tokens))
	for i, t := range tokens {
		s[i] = sha256.Sum256([]byte(t))
	}
	return s
}

func (s tokenSet) check(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(tok))
	match := 0
	for i := range s {
		match |= subtle.ConstantTimeCompare(got[:], s[i][:])
	}
	return ok && match == 1
}

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
