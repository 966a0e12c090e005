package publish

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

// Subscriber is what the director knows of one sync subscriber.
type Subscriber struct {
	ID, Kind  string
	Version   uint64    // last version acknowledged (its ?after=)
	VersionAt time.Time // when version last moved
	LastSeen  time.Time
	Sent      uint64 // newest version sent to it
	SentAt    time.Time
	Failed    string // the reason of its last ?failed=
	FailedAt  time.Time
	GeoIP     string // its GeoIP database build, as its last poll said (?geoip=)
}

// registry holds the subscribers seen by this director. changed is closed
// and replaced on every update, so "sync now" can wait for acknowledgements
// without polling.
type registry struct {
	mu      sync.Mutex
	subs    map[string]*Subscriber
	changed chan struct{}
}

func newRegistry() *registry {
	return &registry{subs: map[string]*Subscriber{}, changed: make(chan struct{})}
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
		s = &Subscriber{ID: id}
		g.subs[id] = s
	}
	s.Kind, s.LastSeen = kind, now
	if after != s.Version || s.VersionAt.IsZero() {
		s.Version, s.VersionAt = after, now
	}
	if failed != "" {
		s.Failed, s.FailedAt = failed, now
	}
	g.notify()
}

// geoip records the GeoIP database build a subscriber's poll reported.
func (g *registry) geoip(id, build string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.subs[id]; ok {
		s.GeoIP = build
	}
}

// sent records that version v went out to the subscriber.
func (g *registry) sent(id string, v uint64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.subs[id]; ok && v > s.Sent {
		s.Sent, s.SentAt = v, now
		g.notify()
	}
}

// evict makes room for one more subscriber. Called with mu held.
func (g *registry) evict(now time.Time) {
	var oldest *Subscriber
	for id, s := range g.subs {
		if now.Sub(s.LastSeen) > forgetAfter {
			delete(g.subs, id)
			continue
		}
		if oldest == nil || s.LastSeen.Before(oldest.LastSeen) {
			oldest = s
		}
	}
	if len(g.subs) >= maxSubscribers && oldest != nil {
		delete(g.subs, oldest.ID)
	}
}

// get returns a copy of one subscriber's record.
func (g *registry) get(id string) (Subscriber, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.subs[id]
	if !ok {
		return Subscriber{}, false
	}
	return *s, true
}

// active lists the subscribers seen within the last d, by id.
func (g *registry) active(now time.Time, d time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, s := range g.subs {
		if now.Sub(s.LastSeen) <= d {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Subscriber returns a copy of what is known of subscriber id.
func (p *Publisher) Subscriber(id string) (Subscriber, bool) { return p.subs.get(id) }

// Subscribers reports every subscriber against the current snapshot.
func (p *Publisher) Subscribers(now time.Time) []api.Subscriber {
	cur := p.cur.Load()
	return p.subs.list(now, cur.Snap.Version, cur.At, p.cfg.SyncWait, p.cfg.LagAfter)
}

// list reports every subscriber. One is lagging when it holds an older
// version than cur and cur has been out for longer than lagAfter, or when
// it has not polled for longer than a poll and lagAfter.
func (g *registry) list(now time.Time, cur uint64, curAt time.Time, poll, lagAfter time.Duration) []api.Subscriber {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]api.Subscriber, 0, len(g.subs))
	for _, s := range g.subs {
		behind := s.Version < cur && now.Sub(curAt) > lagAfter
		silent := now.Sub(s.LastSeen) > poll+lagAfter
		out = append(out, api.Subscriber{ID: s.ID, Kind: s.Kind, Version: s.Version, LastSeen: s.LastSeen, Lagging: behind || silent, GeoIP: s.GeoIP})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
