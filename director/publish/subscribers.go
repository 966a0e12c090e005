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

// forget drops a subscriber from the registry (a removed node).
func (g *registry) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.subs[id]; ok {
		delete(g.subs, id)
		g.notify()
	}
}

// Subscribers reports every subscriber against the current snapshot. A
// node subscriber whose node is no longer in the site is dropped at once:
// it is gone, not lagging.
func (p *Publisher) Subscribers(now time.Time) []api.Subscriber {
	cur := p.cur.Load()
	var ver uint64
	if cur.Snap != nil {
		ver = cur.Snap.Version
	}
	subs := p.subs.list(now, ver, cur.At, p.cfg.SyncWait, p.cfg.LagAfter)
	out := subs[:0]
	for _, s := range subs {
		if p.removed(s.Kind, s.ID) {
			p.subs.forget(s.ID)
			continue
		}
		if s.Version < ver {
			s.Behind = p.versions.after(s.Version)
		}
		out = append(out, s)
	}
	return out
}

// maxVersions bounds the versions remembered for counting lag.
const maxVersions = 4096

// versionLog remembers the snapshot versions published, ascending.
type versionLog struct {
	mu sync.Mutex
	vs []uint64
}

func (l *versionLog) add(v uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.vs); n > 0 && v <= l.vs[n-1] {
		return
	}
	if len(l.vs) >= maxVersions {
		l.vs = append(l.vs[:0], l.vs[len(l.vs)-maxVersions/2:]...)
	}
	l.vs = append(l.vs, v)
}

// after counts the versions published after v: at least 1, since the
// caller knows the current one is newer; at most the versions kept.
func (l *versionLog) after(v uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.vs), func(i int) bool { return l.vs[i] > v })
	return max(uint64(len(l.vs)-i), 1)
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
