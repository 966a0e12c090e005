package relay

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits that keep one client, or a flood of connections, from costing
// the relay more than its share. They are constants of the relay, not of
// the site file; tests tune them per relay.
const (
	// AuthTimeout is how long a TCP or TLS connection may stay open
	// without an allocation: from accept (the TLS handshake included)
	// until a successful Allocate, and again from the end of its
	// allocation. coturn closes such connections after 60 s; a client
	// that means to allocate does so within a round trip or two.
	// While an allocation lives, its lifetime governs: the connection
	// stays as long as the client refreshes it.
	AuthTimeout = 10 * time.Second
	// MaxConnsPerSource is how many TCP and TLS connections one client
	// address may hold at once; more are closed at accept and counted as
	// refusals (reason source_limit). It leaves room for a NAT with
	// many clients behind one address.
	MaxConnsPerSource = 256
	// refusalLogEvery is the interval of the refusal summary lines: the
	// first refusal of a reason in an interval is logged as it happens,
	// the rest are counted and logged as one line when the interval ends.
	refusalLogEvery = 10 * time.Second
)

// ReasonSourceLimit is the refusal reason of a connection over
// MaxConnsPerSource.
const ReasonSourceLimit = "source_limit"

// Reasons for closing a TCP or TLS connection, the reason label of
// meridian_relay_connections_closed_total.
const (
	closeAuthTimeout = "auth_timeout" // no allocation within AuthTimeout
	closeSlowReader  = "slow_reader"  // a write to the client timed out
	closeBadFrame    = "bad_frame"    // garbage or an oversize frame on the stream
)

var closeReasons = [...]string{closeAuthTimeout, closeSlowReader, closeBadFrame}

// Reasons for dropping a datagram or frame, the reason label of
// meridian_relay_invalid_messages_total.
const (
	invalidGarbage  = "garbage"  // neither STUN nor ChannelData
	invalidOversize = "oversize" // larger than the relay handles
)

// invalidCounts counts dropped invalid messages of one transport.
type invalidCounts struct {
	garbage, oversize atomic.Uint64
}

func (c *invalidCounts) add(reason string) {
	if reason == invalidOversize {
		c.oversize.Add(1)
	} else {
		c.garbage.Add(1)
	}
}

// sourceCounts tracks the open TCP and TLS connections per client address.
type sourceCounts struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

// add counts one more connection from a, unless a holds max already.
func (s *sourceCounts) add(a netip.Addr, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[netip.Addr]int{}
	}
	if max > 0 && s.n[a] >= max {
		return false
	}
	s.n[a]++
	return true
}

func (s *sourceCounts) remove(a netip.Addr) {
	s.mu.Lock()
	if s.n[a]--; s.n[a] <= 0 {
		delete(s.n, a)
	}
	s.mu.Unlock()
}

// refusalLog writes refusals as summary lines: the first of each reason in
// an interval at once, the others counted and written as one line when
// the interval ends (flush, from Run's ticker, and at shutdown).
type refusalLog struct {
	log *slog.Logger

	mu      sync.Mutex
	reasons map[string]*refusalEntry
}

type refusalEntry struct {
	logged  bool   // the first of this interval is written
	pending uint64 // refusals since, not yet written
	msg     string
	last    []any // the last one's attributes
}

// note counts one refusal for the log. msg and attrs describe it; attrs
// never carry a credential.
func (l *refusalLog) note(reason, msg string, attrs ...any) {
	l.mu.Lock()
	if l.reasons == nil {
		l.reasons = map[string]*refusalEntry{}
	}
	e := l.reasons[reason]
	if e == nil {
		e = &refusalEntry{}
		l.reasons[reason] = e
	}
	if e.logged {
		e.pending++
		e.msg, e.last = msg, attrs
		l.mu.Unlock()
		return
	}
	e.logged = true
	l.mu.Unlock()
	l.log.Info(msg, append([]any{"reason", reason}, attrs...)...)
}

// flush writes one summary line per reason with refusals pending and
// starts a new interval.
func (l *refusalLog) flush(every time.Duration) {
	type line struct {
		reason, msg string
		n           uint64
		last        []any
	}
	var out []line
	l.mu.Lock()
	for reason, e := range l.reasons {
		if e.pending > 0 {
			out = append(out, line{reason, e.msg, e.pending, e.last})
		}
		if e.pending == 0 && !e.logged {
			delete(l.reasons, reason)
			continue
		}
		e.logged, e.pending, e.last = false, 0, nil
	}
	l.mu.Unlock()
	for _, ln := range out {
		l.log.Info(ln.msg+" (summary)", append([]any{"reason", ln.reason, "count", ln.n, "interval", every}, prefixed("last_", ln.last)...)...)
	}
}

// prefixed renames key-value attributes with a prefix.
func prefixed(p string, kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			out = append(out, p+k, kv[i+1])
		}
	}
	return out
}

// refused counts one refusal in meridian_relay_refusals_total and the
// refusal log.
func (r *Relay) refused(reason, msg string, attrs ...any) {
	r.refuse(reason)
	r.refusalLog.note(reason, msg, attrs...)
}
