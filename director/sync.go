package director

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
)

// maxIDLen bounds subscriber ids and failure reasons kept in memory.
const maxIDLen = 200

// handleSync is the sync long-poll (see the api package for the protocol).
func (d *Director) handleSync(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	var after uint64
	if s := q.Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "after: want a snapshot version")
			return
		}
		after = v
	}
	id, kind := q.Get("subscriber"), q.Get("kind")
	switch {
	case id == "" || len(id) > maxIDLen:
		writeError(w, http.StatusBadRequest, "subscriber: want an id of 1 to 200 bytes")
		return
	case kind != api.KindNode && kind != api.KindDNS && kind != api.KindDirector:
		writeError(w, http.StatusBadRequest, "kind: want node, dns or director")
		return
	}
	wait := d.cfg.SyncWait
	if s := q.Get("wait"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			writeError(w, http.StatusBadRequest, "wait: want a duration such as 10s")
			return
		}
		wait = min(v, wait)
	}
	failed := q.Get("failed")
	if len(failed) > maxIDLen {
		failed = failed[:maxIDLen]
	}
	if d.removed(kind, id) {
		writeError(w, http.StatusGone, "node "+id+" is not part of site "+d.site)
		return
	}
	d.subs.seen(id, kind, after, failed, time.Now())
	if failed != "" {
		d.log.Warn("subscriber failed to apply a snapshot", "subscriber", id, "holding", after, "reason", failed)
	}

	d.met.waiters.Inc()
	p := d.awaitNewer(r, after, wait)
	d.met.waiters.Dec()
	if p == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if d.removed(kind, id) {
		writeError(w, http.StatusGone, "node "+id+" is not part of site "+d.site)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Meridian-Version", strconv.FormatUint(p.snap.Version, 10))
	if _, err := w.Write(p.env); err == nil {
		d.subs.sent(id, p.snap.Version, time.Now())
	}
}

// awaitNewer waits up to wait for a snapshot newer than after; nil when
// none came, the client left or the director stops.
func (d *Director) awaitNewer(r *http.Request, after uint64, wait time.Duration) *published {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		p := d.cur.Load()
		if p.snap != nil && p.snap.Version > after {
			return p
		}
		select {
		case <-p.next:
		case <-t.C:
			return nil
		case <-r.Context().Done():
			return nil
		case <-d.stopping:
			return nil
		}
	}
}

// removed reports whether a node subscriber's node is not in the site.
func (d *Director) removed(kind, id string) bool {
	if kind != api.KindNode {
		return false
	}
	p := d.cur.Load()
	return p.snap != nil && p.snap.Config.Node(id) == nil
}

// handleHeartbeat stores a node's heartbeat; a change of the prefixes its
// speaker announces updates the node state and so the snapshot.
func (d *Director) handleHeartbeat(w http.ResponseWriter, r *http.Request, body []byte) {
	var hb api.Heartbeat
	if err := json.Unmarshal(body, &hb); err != nil {
		writeError(w, http.StatusBadRequest, "heartbeat: "+err.Error())
		return
	}
	if hb.Node == "" || len(hb.Node) > maxIDLen {
		writeError(w, http.StatusBadRequest, "heartbeat: want a node name")
		return
	}
	if d.removed(api.KindNode, hb.Node) {
		writeError(w, http.StatusGone, "node "+hb.Node+" is not part of site "+d.site)
		return
	}
	ctx := clientv3.WithRequireLeader(r.Context())
	lease, err := d.heartbeatLease(ctx)
	if err != nil {
		d.storeError(w, "store heartbeat", err)
		return
	}
	rec := heartbeatRecord{Received: time.Now().UTC(), Director: d.cfg.Name, Heartbeat: hb}
	if _, err := d.st.client.Put(ctx, d.keys.heartbeat(hb.Node), encode(rec), clientv3.WithLease(lease)); err != nil {
		d.dropHeartbeatLease(lease) // it may be gone: the next heartbeat grants another
		d.storeError(w, "store heartbeat", err)
		return
	}
	announcing := slices.Clone(hb.Announcing)
	slices.SortFunc(announcing, func(a, b netip.Prefix) int { return a.Compare(b) })
	announcing = slices.Compact(announcing)
	p := d.cur.Load()
	if !slices.Equal(p.snap.Node(hb.Node).Announcing, announcing) {
		_, err := d.updateState(ctx, d.keys.node(hb.Node), func(s *stateRecord) bool {
			if slices.Equal(s.Announcing, announcing) {
				return false
			}
			s.Announcing = announcing
			return true
		})
		if err != nil {
			d.storeError(w, "store announcing", err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// heartbeatLease returns a lease for heartbeat keys. One lease serves every
// heartbeat for half its TTL, so a heartbeat lives between TTL/2 and TTL
// after its last write and the number of leases stays small.
func (d *Director) heartbeatLease(ctx context.Context) (clientv3.LeaseID, error) {
	d.hbMu.Lock()
	defer d.hbMu.Unlock()
	now := time.Now()
	if d.hbLease != 0 && now.Before(d.hbUntil) {
		return d.hbLease, nil
	}
	ttl := d.cfg.HeartbeatTTL
	resp, err := d.st.client.Grant(ctx, int64(max(ttl/time.Second, 2)))
	if err != nil {
		return 0, fmt.Errorf("heartbeat lease: %w", err)
	}
	d.hbLease, d.hbUntil = resp.ID, now.Add(ttl/2)
	return resp.ID, nil
}

func (d *Director) dropHeartbeatLease(id clientv3.LeaseID) {
	d.hbMu.Lock()
	defer d.hbMu.Unlock()
	if d.hbLease == id {
		d.hbLease = 0
	}
}
