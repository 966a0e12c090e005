package publish

import (
	"net/http"
	"strconv"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/web"
)

// HandleSync is the sync long-poll (see the api package for the protocol).
func (p *Publisher) HandleSync(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	var after uint64
	if s := q.Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			web.WriteError(w, http.StatusBadRequest, "after: want a snapshot version")
			return
		}
		after = v
	}
	id, kind := q.Get("subscriber"), q.Get("kind")
	switch {
	case id == "" || len(id) > web.MaxIDLen:
		web.WriteError(w, http.StatusBadRequest, "subscriber: want an id of 1 to 200 bytes")
		return
	case kind != api.KindNode && kind != api.KindDNS && kind != api.KindDirector:
		web.WriteError(w, http.StatusBadRequest, "kind: want node, dns or director")
		return
	}
	wait := p.cfg.SyncWait
	if s := q.Get("wait"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			web.WriteError(w, http.StatusBadRequest, "wait: want a duration such as 10s")
			return
		}
		wait = min(v, wait)
	}
	failed := q.Get("failed")
	if len(failed) > web.MaxIDLen {
		failed = failed[:web.MaxIDLen]
	}
	if p.removed(kind, id) {
		p.subs.forget(id)
		web.WriteError(w, http.StatusGone, "node "+id+" is not part of site "+p.site.Name)
		return
	}
	p.subs.seen(id, kind, after, failed, time.Now())
	p.subs.geoip(id, web.Truncate(q.Get("geoip"), web.MaxIDLen))
	if failed != "" {
		p.log.Warn("subscriber failed to apply a snapshot", "subscriber", id, "holding", after, "reason", failed)
	}

	p.met.waiters.Inc()
	cur := p.awaitNewer(r, after, wait)
	p.met.waiters.Dec()
	if cur == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if p.removed(kind, id) {
		p.subs.forget(id)
		web.WriteError(w, http.StatusGone, "node "+id+" is not part of site "+p.site.Name)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Meridian-Version", strconv.FormatUint(cur.Snap.Version, 10))
	if _, err := w.Write(cur.Env); err == nil {
		p.subs.sent(id, cur.Snap.Version, time.Now())
	}
}

// awaitNewer waits up to wait for a snapshot newer than after; nil when
// none came, the client left or the director stops.
func (p *Publisher) awaitNewer(r *http.Request, after uint64, wait time.Duration) *Published {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		cur := p.cur.Load()
		if cur.Snap != nil && cur.Snap.Version > after {
			return cur
		}
		select {
		case <-cur.next:
		case <-t.C:
			return nil
		case <-r.Context().Done():
			return nil
		case <-p.stopping:
			return nil
		}
	}
}

// removed reports whether a node subscriber's node is not in the site.
func (p *Publisher) removed(kind, id string) bool {
	if kind != api.KindNode {
		return false
	}
	cur := p.cur.Load()
	return cur.Snap != nil && cur.Snap.Config.Node(id) == nil
}
