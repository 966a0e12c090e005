package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/checks"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

func (a *API) handleStatus(w http.ResponseWriter, r *http.Request) {
	p := a.pub.Current()
	now := time.Now()
	nodes, err := a.nodeStatus(r.Context(), p)
	if err != nil {
		web.StoreError(w, a.log, "status", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, api.Status{
		Site: a.site.Name, Version: p.Snap.Version, ConfigVersion: p.Snap.ConfigVersion,
		Director: a.cfg.Name, Leader: checks.Leader(r.Context(), a.site),
		Masters: p.Snap.Masters, Nodes: nodes,
		Subscribers: a.pub.Subscribers(now),
		Refused:     a.guard.RefusedSubscribers(now),
		GeoIP:       a.geoipBuild(),
	})
}

// geoipBuild is the build of the director's GeoIP database, "" without one.
func (a *API) geoipBuild() string {
	if b, ok := a.cfg.Locator.(interface{ Build() string }); ok {
		return b.Build()
	}
	return ""
}

func (a *API) handleNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.nodeStatus(r.Context(), a.pub.Current())
	if err != nil {
		web.StoreError(w, a.log, "nodes", err)
		return
	}
	web.WriteJSON(w, http.StatusOK, nodes)
}

// nodeStatus joins the snapshot's node states with the stored heartbeats.
func (a *API) nodeStatus(ctx context.Context, p *publish.Published) ([]api.NodeStatus, error) {
	resp, err := a.site.Client().Get(ctx, a.site.Keys.Heartbeats(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	beats := map[string]store.HeartbeatRecord{}
	for _, kv := range resp.Kvs {
		if hb, err := store.Decode[store.HeartbeatRecord](string(kv.Key), kv.Value); err == nil {
			beats[hb.Heartbeat.Node] = hb
		}
	}
	out := make([]api.NodeStatus, 0, len(p.Snap.Config.Nodes))
	for _, n := range p.Snap.Config.Nodes {
		ns := api.NodeStatus{NodeState: p.Snap.Node(n.Name), Region: n.Region, Accepting: n.Accepting, Secondary: n.Secondary}
		if hb, ok := beats[n.Name]; ok {
			ns.LastHeartbeat, ns.Heartbeat = hb.Received, &hb.Heartbeat
		}
		out = append(out, ns)
	}
	return out, nil
}
