package broker

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// handleClients answers connected clients (the appliance's
// get_connected_clients) from the relays' per-user accounting in the
// stored heartbeats: per node, and per session for the users that are
// session parties. ?node=NAME keeps one node.
func (b *Broker) handleClients(w http.ResponseWriter, r *http.Request) {
	p := b.pub.Current()
	only := r.URL.Query().Get("node")
	if only != "" && p.Snap.Config.Node(only) == nil {
		web.WriteError(w, http.StatusNotFound, fmt.Sprintf("node %q: %v", web.Truncate(only, web.MaxIDLen), store.ErrNoNode))
		return
	}
	ctx := r.Context()
	resp, err := b.site.Client().Get(ctx, b.site.Keys.Heartbeats(), clientv3.WithPrefix())
	if err != nil {
		web.StoreError(w, b.log, "clients", err)
		return
	}
	active, err := b.activeSessions(ctx)
	if err != nil {
		web.StoreError(w, b.log, "clients", err)
		return
	}
	beats := map[string]store.HeartbeatRecord{}
	for _, kv := range resp.Kvs {
		if hb, err := store.Decode[store.HeartbeatRecord](string(kv.Key), kv.Value); err == nil {
			beats[hb.Heartbeat.Node] = hb
		}
	}
	out := api.Clients{Nodes: []api.NodeClients{}, Sessions: []api.SessionClients{}}
	sessions := map[string]*api.SessionClients{}
	for _, n := range p.Snap.Config.Nodes {
		if only != "" && n.Name != only {
			continue
		}
		nc := api.NodeClients{Node: n.Name, Users: []api.RelayUser{}}
		if hb, ok := beats[n.Name]; ok {
			nc.LastHeartbeat = hb.Received
			nc.Users = append(nc.Users, hb.Heartbeat.RelayUsers...)
		}
		slices.SortFunc(nc.Users, func(a, b api.RelayUser) int { return strings.Compare(a.User, b.User) })
		for _, u := range nc.Users {
			nc.Allocations += u.Allocations
			id, party, ok := parseSessionUser(u.User)
			if !ok {
				continue
			}
			s := sessions[id]
			if s == nil {
				s = &api.SessionClients{ID: id, Active: active[id]}
				sessions[id] = s
			}
			s.Parties = append(s.Parties, api.PartyClient{
				Party: party, Node: n.Name, Allocations: u.Allocations,
				ToPeerBytes: u.ToPeerBytes, ToClientBytes: u.ToClientBytes,
			})
		}
		out.Nodes = append(out.Nodes, nc)
	}
	for _, s := range sessions {
		slices.SortFunc(s.Parties, func(a, b api.PartyClient) int {
			return strings.Compare(a.Party+"/"+a.Node, b.Party+"/"+b.Node)
		})
		out.Sessions = append(out.Sessions, *s)
	}
	slices.SortFunc(out.Sessions, func(a, b api.SessionClients) int { return strings.Compare(a.ID, b.ID) })
	web.WriteJSON(w, http.StatusOK, out)
}
