package director

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
)

// author names who made a change, from HeaderAuthor.
func author(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get(api.HeaderAuthor)); a != "" {
		return truncate(a, maxIDLen)
	}
	return "unknown"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (d *Director) handleStatus(w http.ResponseWriter, r *http.Request) {
	p := d.cur.Load()
	nodes, err := d.nodeStatus(r.Context(), p)
	if err != nil {
		d.storeError(w, "status", err)
		return
	}
	writeJSON(w, http.StatusOK, api.Status{
		Site: d.site, Version: p.snap.Version, ConfigVersion: p.snap.ConfigVersion,
		Director: d.cfg.Name, Leader: d.leader(r.Context()),
		Masters: p.snap.Masters, Nodes: nodes,
		Subscribers: d.subs.list(time.Now(), p.snap.Version, p.at, d.cfg.SyncWait, d.cfg.LagAfter),
	})
}

func (d *Director) handleNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := d.nodeStatus(r.Context(), d.cur.Load())
	if err != nil {
		d.storeError(w, "nodes", err)
		return
	}
	writeJSON(w, http.StatusOK, nodes)
}

// nodeStatus joins the snapshot's node states with the stored heartbeats.
func (d *Director) nodeStatus(ctx context.Context, p *published) ([]api.NodeStatus, error) {
	resp, err := d.st.client.Get(ctx, d.keys.heartbeats(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	beats := map[string]heartbeatRecord{}
	for _, kv := range resp.Kvs {
		if hb, err := decode[heartbeatRecord](string(kv.Key), kv.Value); err == nil {
			beats[hb.Heartbeat.Node] = hb
		}
	}
	out := make([]api.NodeStatus, 0, len(p.snap.Config.Nodes))
	for _, n := range p.snap.Config.Nodes {
		ns := api.NodeStatus{NodeState: p.snap.Node(n.Name), Region: n.Region, Accepting: n.Accepting, Secondary: n.Secondary}
		if hb, ok := beats[n.Name]; ok {
			ns.LastHeartbeat, ns.Heartbeat = hb.Received, &hb.Heartbeat
		}
		out = append(out, ns)
	}
	return out, nil
}

func (d *Director) handleGetConfig(w http.ResponseWriter, _ *http.Request) {
	p := d.cur.Load()
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Meridian-Config-Version", strconv.FormatUint(p.config.Version, 10))
	io.WriteString(w, p.config.Text)
}

func (d *Director) handlePostConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSiteFile))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "site file too large")
		return
	}
	file := truncate(r.Header.Get(api.HeaderFile), maxIDLen)
	if file == "" {
		file = "site.yaml"
	}
	res, err := d.changeConfig(r.Context(), change{
		author: author(r), comment: "apply", file: file,
		mutate: func(configRecord) ([]byte, error) { return body, nil },
	})
	if err != nil {
		d.changeError(w, "apply", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (d *Director) handleHistory(w http.ResponseWriter, r *http.Request) {
	h, err := d.history(r.Context())
	if err != nil {
		d.storeError(w, "history", err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (d *Director) handleRollback(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	if err != nil || v == 0 {
		writeError(w, http.StatusBadRequest, "version: want a config version number")
		return
	}
	res, err := d.rollback(r.Context(), v, author(r))
	if err != nil {
		d.changeError(w, "rollback", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (d *Director) handleDrain(drained bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := d.setDrained(r.Context(), r.PathValue("name"), drained)
		if err != nil {
			d.changeError(w, "drain", err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (d *Director) handleRemove(w http.ResponseWriter, r *http.Request) {
	res, err := d.removeNode(r.Context(), r.PathValue("name"), author(r))
	if err != nil {
		d.changeError(w, "remove node", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// maxSiteFile bounds a posted site file: a version record holds the file
// and its diff, and etcd refuses requests over 1.5 MiB.
const maxSiteFile = 256 << 10

// maxSyncTimeout bounds "sync now"'s ?timeout= so a request cannot hold a
// handler for long.
const maxSyncTimeout = time.Minute

func (d *Director) handleSyncNow(w http.ResponseWriter, r *http.Request) {
	timeout := DefaultSyncTimeout
	if s := r.URL.Query().Get("timeout"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 || v > maxSyncTimeout {
			writeError(w, http.StatusBadRequest, "timeout: want a duration up to 1m")
			return
		}
		timeout = v
	}
	rep, err := d.syncNow(r.Context(), timeout, author(r))
	if err != nil {
		d.storeError(w, "sync now", err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (d *Director) handleSyncHistory(w http.ResponseWriter, r *http.Request) {
	h, err := d.syncHistory(r.Context())
	if err != nil {
		d.storeError(w, "sync history", err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}
