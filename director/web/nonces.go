package web

import (
	"sync"
	"time"
)

// nonceCache remembers the nonces of accepted requests for as long as
// their timestamp could still pass the clock check, so a captured request
// cannot be replayed. It is bounded: when full of live nonces it refuses
// new requests rather than forget one that could be replayed.
type nonceCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[string]time.Time // nonce -> expiry
	order []nonceEntry         // by expiry, oldest first, from head on
	head  int
}

type nonceEntry struct {
	nonce  string
	expiry time.Time
}

// maxNonces bounds the cache: at 64 bytes a nonce, a few MiB at most.
const maxNonces = 1 << 16

func newNonceCache(ttl time.Duration, max int) *nonceCache {
	return &nonceCache{ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// nonceResult is the verdict on one nonce.
type nonceResult int

const (
	nonceFresh nonceResult = iota
	nonceReplay
	nonceFull
)

// add records nonce at now and reports whether it was fresh.
func (c *nonceCache) add(nonce string, now time.Time) nonceResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.order) && !c.order[c.head].expiry.After(now) {
		delete(c.seen, c.order[c.head].nonce)
		c.head++
	}
	if c.head > len(c.order)/2 {
		// Compact once half is dead, so dropping stays amortised O(1).
		c.order = append(c.order[:0:0], c.order[c.head:]...)
		c.head = 0
	}
	if exp, ok := c.seen[nonce]; ok && exp.After(now) {
		return nonceReplay
	}
	if len(c.seen) >= c.max {
		return nonceFull
	}
	exp := now.Add(c.ttl)
	c.seen[nonce] = exp
	c.order = append(c.order, nonceEntry{nonce, exp})
	return nonceFresh
}
