package director

import (
	"sort"
	"sync"
	"time"

	"github.com/meridian-traffic/meridian/api"
)

// maxSubscribers bounds the registry; beyond it the least recently seen
// subscriber is forgotten.
const maxSubscribers = 10000

// forgetAfter drops subscribers not seen for this long from the registry.
const forgetAfter = 10 * time.Minute

// subscriber is what the director knows of one sync subscriber.
type subscriber struct {
	id, kind  string
	version   uint64    // last version acknowledged (its ?after=)
	versionAt time.Time // when version last moved
	lastSeen  time.Time
	sent      uint64 // newest version sent to it
	sentAt    time.Time
	failed    string // the reason of its last ?failed=
	failedAt  time.Time
}

// registry holds the subscribers seen by this director. changed is closed
// and replaced on every update, so "sync now" can wait for acknowledgements
// without polling.
type registry struct {
	mu      sync.Mutex
	subs    map[string]*subscriber
	changed chan struct{}
}

func newRegistry() *registry {
	return &registry{subs: map[string]*subscriber{}, changed: make(chan struct{})}
}

// wait returns a channel closed at the next update.
func (g *registry) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *registry) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// seen records a poll: the subscriber holds version after, and may report
// that it failed to apply a newer one.
func (g *registry) seen(id, kind string, after uint64, failed string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.subs[id]
	if !ok {
		g.evict(now)
		s = &subscriber{id: id}
		g.subs[id] = s
	}
	s.kind, s.lastSeen = kind, now
	if after != s.version || s.versionAt.IsZero() {
		s.version, s.versionAt = after, now
	}
	if failed != "" {
		s.failed, s.failedAt = failed, now
	}
	g.notify()
}

// sent records that version v went out to the subscriber.
func (g *registry) sent(id string, v uint64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.subs[id]; ok && v > s.sent {
		s.sent, s.sentAt = v, now
		g.notify()
	}
}

// evict makes room for one more subscriber. Called with mu held.
func (g *registry) evict(now time.Time) {
	var oldest *subscriber
	for id, s := range g.subs {
		if now.Sub(s.lastSeen) > forgetAfter {
			delete(g.subs, id)
			continue
		}
		if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
			oldest = s
		}
	}
	if len(g.subs) >= maxSubscribers && oldest != nil {
		delete(g.subs, oldest.id)
	}
}

// get returns a copy of one subscriber's record.
func (g *registry) get(id string) (subscriber, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.subs[id]
	if !ok {
		return subscriber{}, false
	}
	return *s, true
}

// active lists the subscribers seen within the last d, by id.
func (g *registry) active(now time.Time, d time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, s := range g.subs {
		if now.Sub(s.lastSeen) <= d {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// list reports every subscriber. One is lagging when it holds an older
// version than cur and cur has been out for longer than lagAfter, or when
// it has not polled for longer than a poll and lagAfter.
func (g *registry) list(now time.Time, cur uint64, curAt time.Time, poll, lagAfter time.Duration) []api.Subscriber {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]api.Subscriber, 0, len(g.subs))
	for _, s := range g.subs {
		behind := s.version < cur && now.Sub(curAt) > lagAfter
		silent := now.Sub(s.lastSeen) > poll+lagAfter
		out = append(out, api.Subscriber{ID: s.id, Kind: s.kind, Version: s.version, LastSeen: s.lastSeen, Lagging: behind || silent})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
