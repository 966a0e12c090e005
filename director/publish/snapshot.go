package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// buildSnapshot is deterministic: the same view and config give the same
// bytes on every director.
func buildSnapshot(siteName string, cfg *cluster.Site, configVersion uint64, v *view) *cluster.Snapshot {
	s := &cluster.Snapshot{
		Format:        cluster.SnapshotFormat,
		Site:          siteName,
		Version:       v.version,
		ConfigVersion: configVersion,
		Published:     v.at,
		Config:        cfg,
		Nodes:         make([]cluster.NodeState, 0, len(cfg.Nodes)),
	}
	for _, n := range cfg.Nodes {
		r, ok := v.nodes[n.Name]
		if !ok {
			r.Health = cluster.Unknown
		}
		s.Nodes = append(s.Nodes, cluster.NodeState{
			Name: n.Name, Health: r.Health, Drained: r.Drained, Withdrawn: r.Withdrawn,
			Since: r.Since, Reason: r.Reason, Announcing: r.Announcing,
		})
	}
	masters := []string{cfg.Masters.Primary.Name}
	if cfg.Masters.Backup != nil {
		masters = append(masters, cfg.Masters.Backup.Name)
	}
	for _, name := range masters {
		r, ok := v.masters[name]
		if !ok {
			r.Health = cluster.Unknown
		}
		s.Masters = append(s.Masters, cluster.MasterState{Name: name, Health: r.Health, Since: r.Since, Reason: r.Reason})
	}
	return s
}

// Refresh rebuilds and publishes the snapshot when the store holds a newer
// state than the one served. Only the watch loop calls it, and Run before
// the first Watch.
// It returns the store revision it read at.
func (p *Publisher) Refresh(ctx context.Context) (int64, error) {
	v, err := p.readView(ctx)
	if err != nil {
		return 0, err
	}
	old := p.cur.Load()
	if old.Snap != nil && v.version <= old.Snap.Version {
		return v.rev, nil
	}
	rec := old.Config
	var site *cluster.Site
	if old.Snap != nil && rec.Version == v.current.Version {
		site = old.Snap.Config
	} else {
		if rec, err = p.site.ConfigVersion(ctx, v.current.Version); err != nil {
			return 0, err
		}
		if site, err = cluster.Parse(rec.File, []byte(rec.Text)); err != nil {
			return 0, fmt.Errorf("stored config version %d: %w", rec.Version, err)
		}
	}
	snap := buildSnapshot(p.site.Name, site, rec.Version, v)
	env, err := p.signer.Sign(snap)
	if err != nil {
		return 0, fmt.Errorf("sign snapshot %d: %w", snap.Version, err)
	}
	p.cur.Store(&Published{Snap: snap, Env: env, Config: rec, At: time.Now(), next: make(chan struct{})})
	p.versions.add(snap.Version)
	close(old.next)
	p.met.snapshots.Inc()
	p.log.Debug("snapshot published", "version", snap.Version, "config_version", rec.Version)
	return v.rev, nil
}
