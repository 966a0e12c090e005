package web

import (
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/meridian-traffic/meridian/api"
)

// Bounds of the refused-subscriber table.
const (
	// maxRefused bounds the table; beyond it the entry seen longest ago is
	// forgotten, so a scan with made-up ids costs a fixed amount of memory.
	maxRefused = 1000
	// refusedForget drops an entry not refused again for this long: the
	// subscriber stopped or was fixed without polling again.
	refusedForget = 15 * time.Minute
	// refusedLogEvery is how often one subscriber's refusals for one
	// reason are logged again while they go on: once at the first, then
	// with the count of those in between.
	refusedLogEvery = 5 * time.Minute
)

// refusedKey names one refused subscriber and reason. The id and kind are
// what the request claims: its signature did not verify, so they are not
// proven. A request that claims no id is keyed by its source address.
type refusedKey struct {
	id, kind, reason, addr string
}

type refusedEntry struct {
	api.RefusedSubscriber
	logged   time.Time // last log line
	unlogged uint64    // refusals since that line
}

// refusals is the bounded table of refused subscribers.
type refusals struct {
	mu      sync.Mutex
	entries map[refusedKey]*refusedEntry
}

func newRefusals() *refusals { return &refusals{entries: map[refusedKey]*refusedEntry{}} }

// claimed returns the subscriber id and kind a PSK request names: the
// sync query's subscriber and kind, or a heartbeat body's node. Both are
// cut short and stripped of control characters; they go to a log line.
func claimed(r *http.Request, body []byte) (id, kind string) {
	q := r.URL.Query()
	id, kind = q.Get("subscriber"), q.Get("kind")
	if id == "" && len(body) > 0 {
		var hb struct {
			Node string `json:"node"`
		}
		if json.Unmarshal(body, &hb) == nil && hb.Node != "" {
			id, kind = hb.Node, api.KindNode
		}
	}
	return clean(id, MaxIDLen), clean(kind, 16)
}

// clean keeps printable characters of s, at most n bytes.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	return Truncate(s, n)
}

// remoteHost is the source address of a request without its port.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// refused records one refusal and reports whether to log it, with the
// count of refusals the line stands for (itself and those not logged).
func (t *refusals) refused(id, kind, reason, addr string, now time.Time) (log bool, count uint64) {
	k := refusedKey{id: id, kind: kind, reason: reason}
	if id == "" {
		k.addr = addr
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[k]
	if !ok {
		t.evict(now)
		e = &refusedEntry{RefusedSubscriber: api.RefusedSubscriber{ID: id, Kind: kind, Reason: reason}}
		t.entries[k] = e
	}
	e.Address, e.LastSeen = addr, now
	e.Count++
	e.unlogged++
	if !e.logged.IsZero() && now.Sub(e.logged) < refusedLogEvery {
		return false, 0
	}
	count = e.unlogged
	e.logged, e.unlogged = now, 0
	return true, count
}

// accepted drops the entries of a subscriber whose request passed and
// returns how many refusals they held, 0 when it had none.
func (t *refusals) accepted(id string) (count uint64) {
	if id == "" {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) == 0 {
		return 0
	}
	for k, e := range t.entries {
		if k.id == id {
			count += e.Count
			delete(t.entries, k)
		}
	}
	return count
}

// evict makes room for one more entry. Called with mu held.
func (t *refusals) evict(now time.Time) {
	var oldest refusedKey
	var oldestAt time.Time
	for k, e := range t.entries {
		if now.Sub(e.LastSeen) > refusedForget {
			delete(t.entries, k)
			continue
		}
		if oldestAt.IsZero() || e.LastSeen.Before(oldestAt) {
			oldest, oldestAt = k, e.LastSeen
		}
	}
	if len(t.entries) >= maxRefused && !oldestAt.IsZero() {
		delete(t.entries, oldest)
	}
}

// list returns the entries refused within refusedForget, most recent
// first.
func (t *refusals) list(now time.Time) []api.RefusedSubscriber {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.RefusedSubscriber, 0, len(t.entries))
	for _, e := range t.entries {
		if now.Sub(e.LastSeen) <= refusedForget {
			out = append(out, e.RefusedSubscriber)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].ID+out[i].Reason < out[j].ID+out[j].Reason
	})
	return out
}

// RefusedSubscribers lists the subscribers whose PSK requests were refused
// in the last 15 minutes and that have not been accepted since, most
// recent first (status, `ctl status`).
func (g *Guard) RefusedSubscribers(now time.Time) []api.RefusedSubscriber {
	return g.subs.list(now)
}

// reasonHint says what a refusal reason means to an operator.
func reasonHint(reason string) string {
	switch reason {
	case refusedMAC:
		return "the request signature does not verify: the subscriber's pre-shared key differs from the director's"
	case refusedClock:
		return "the request time is more than 30s from the director's clock: check NTP on both hosts"
	case refusedReplay:
		return "a request nonce was used twice: a replayed or duplicated request"
	case refusedMissing:
		return "no valid Meridian signature on the request"
	case refusedBusy:
		return "too many recent requests to remember their nonces"
	}
	return ""
}

// subscriberRefused counts and logs a refused PSK request by the
// subscriber it claims to be: one warning per subscriber and reason at
// first, then at most one every refusedLogEvery with the count.
func (g *Guard) subscriberRefused(r *http.Request, body []byte, reason string, now time.Time) {
	g.refused.WithLabelValues(reason).Inc()
	id, kind := claimed(r, body)
	addr := remoteHost(r)
	log, count := g.subs.refused(id, kind, reason, addr, now)
	if !log {
		return
	}
	attrs := []any{"subscriber", dashed(id), "kind", dashed(kind), "remote", addr, "reason", reason,
		"path", r.URL.Path, "hint", reasonHint(reason)}
	if count > 1 {
		attrs = append(attrs, "refused", count, "over", refusedLogEvery)
	}
	g.log.Warn("subscriber refused (id and kind as claimed)", attrs...)
}

// subscriberAccepted notes a subscriber's passing request: one that was
// refused before is logged once and leaves the table.
func (g *Guard) subscriberAccepted(r *http.Request, body []byte) {
	if g.subs.empty() {
		return
	}
	id, kind := claimed(r, body)
	if n := g.subs.accepted(id); n > 0 {
		g.log.Info("subscriber accepted again", "subscriber", id, "kind", dashed(kind), "remote", remoteHost(r), "refused_before", n)
	}
}

func (t *refusals) empty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) == 0
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
