package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// HandleHeartbeat stores a node's heartbeat; a change of the prefixes its
// speaker announces updates the node state and so the snapshot.
func (p *Publisher) HandleHeartbeat(w http.ResponseWriter, r *http.Request, body []byte) {
	var hb api.Heartbeat
	if err := json.Unmarshal(body, &hb); err != nil {
		web.WriteError(w, http.StatusBadRequest, "heartbeat: "+err.Error())
		return
	}
	if hb.Node == "" || len(hb.Node) > web.MaxIDLen {
		web.WriteError(w, http.StatusBadRequest, "heartbeat: want a node name")
		return
	}
	if p.removed(api.KindNode, hb.Node) {
		web.WriteError(w, http.StatusGone, "node "+hb.Node+" is not part of site "+p.site.Name)
		return
	}
	ctx := clientv3.WithRequireLeader(r.Context())
	lease, err := p.heartbeatLease(ctx)
	if err != nil {
		web.StoreError(w, p.log, "store heartbeat", err)
		return
	}
	rec := store.HeartbeatRecord{Received: time.Now().UTC(), Director: p.cfg.Name, Heartbeat: hb}
	if _, err := p.site.Client().Put(ctx, p.site.Keys.Heartbeat(hb.Node), store.Encode(rec), clientv3.WithLease(lease)); err != nil {
		p.dropHeartbeatLease(lease) // it may be gone: the next heartbeat grants another
		web.StoreError(w, p.log, "store heartbeat", err)
		return
	}
	announcing := slices.Clone(hb.Announcing)
	slices.SortFunc(announcing, func(a, b netip.Prefix) int { return a.Compare(b) })
	announcing = slices.Compact(announcing)
	if !slices.Equal(p.cur.Load().Snap.Node(hb.Node).Announcing, announcing) {
		_, err := p.site.UpdateState(ctx, p.site.Keys.Node(hb.Node), func(s *store.StateRecord) bool {
			if slices.Equal(s.Announcing, announcing) {
				return false
			}
			s.Announcing = announcing
			return true
		})
		if err != nil {
			web.StoreError(w, p.log, "store announcing", err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// heartbeatLease returns a lease for heartbeat keys. One lease serves every
// heartbeat for half its TTL, so a heartbeat lives between TTL/2 and TTL
// after its last write and the number of leases stays small.
func (p *Publisher) heartbeatLease(ctx context.Context) (clientv3.LeaseID, error) {
	p.hbMu.Lock()
	defer p.hbMu.Unlock()
	now := time.Now()
	if p.hbLease != 0 && now.Before(p.hbUntil) {
		return p.hbLease, nil
	}
	ttl := p.cfg.HeartbeatTTL
	resp, err := p.site.Client().Grant(ctx, int64(max(ttl/time.Second, 2)))
	if err != nil {
		return 0, fmt.Errorf("heartbeat lease: %w", err)
	}
	p.hbLease, p.hbUntil = resp.ID, now.Add(ttl/2)
	return resp.ID, nil
}

func (p *Publisher) dropHeartbeatLease(id clientv3.LeaseID) {
	p.hbMu.Lock()
	defer p.hbMu.Unlock()
	if p.hbLease == id {
		p.hbLease = 0
	}
}
