package director

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
)

// published is one signed snapshot as this director serves it. next is
// closed when a newer one replaces it, which wakes every long-poll at once.
type published struct {
	snap   *cluster.Snapshot // nil before the first snapshot
	env    []byte            // the signed envelope
	config configRecord      // the config version it carries
	at     time.Time         // when this director published it (for lag)
	next   chan struct{}

	// The engine is built on first use (explain, sessions), once per
	// snapshot: building costs up to 200 ms at 1,000 nodes.
	engineOnce sync.Once
	eng        *cluster.Engine
}

// engine returns the selection engine of this snapshot.
func (p *published) engine(loc cluster.Locator) *cluster.Engine {
	p.engineOnce.Do(func() { p.eng = cluster.NewEngine(p.snap, loc) })
	return p.eng
}

// view is one consistent read of the keys a snapshot is built from.
type view struct {
	rev     int64  // the store revision it was read at
	version uint64 // newest ModRevision among the keys: the snapshot version
	at      time.Time
	current currentRecord
	nodes   map[string]stateRecord
	masters map[string]stateRecord
}

// readView reads the snapshot keys in one transaction, so that every
// director reading at the same revision builds the same snapshot.
func (d *Director) readView(ctx context.Context) (*view, error) {
	k := d.keys
	resp, err := d.st.client.Txn(ctx).Then(
		clientv3.OpGet(k.current()),
		clientv3.OpGet(k.nodes(), clientv3.WithPrefix()),
		clientv3.OpGet(k.masters(), clientv3.WithPrefix()),
		clientv3.OpGet(k.marker()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read site %s: %w", d.site, err)
	}
	v := &view{rev: resp.Header.Revision, nodes: map[string]stateRecord{}, masters: map[string]stateRecord{}}
	var newest int64
	note := func(rev int64, at time.Time) {
		if rev > newest {
			newest, v.at = rev, at
		}
	}
	cur := resp.Responses[0].GetResponseRange().Kvs
	if len(cur) == 0 {
		return nil, fmt.Errorf("site %s: %w", d.site, errNoConfig)
	}
	if v.current, err = decode[currentRecord](string(cur[0].Key), cur[0].Value); err != nil {
		return nil, err
	}
	note(cur[0].ModRevision, v.current.At)
	for i, m := range []map[string]stateRecord{v.nodes, v.masters} {
		prefix := k.nodes()
		if i == 1 {
			prefix = k.masters()
		}
		for _, kv := range resp.Responses[1+i].GetResponseRange().Kvs {
			r, err := decode[stateRecord](string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			m[string(kv.Key[len(prefix):])] = r
			note(kv.ModRevision, r.At)
		}
	}
	if mk := resp.Responses[3].GetResponseRange().Kvs; len(mk) > 0 {
		r, err := decode[markerRecord](string(mk[0].Key), mk[0].Value)
		if err != nil {
			return nil, err
		}
		note(mk[0].ModRevision, r.At)
	}
	v.version = uint64(newest)
	return v, nil
}

// configVersion reads one stored config version.
func (d *Director) configVersion(ctx context.Context, version uint64) (configRecord, error) {
	key := d.keys.version(version)
	resp, err := d.st.client.Get(ctx, key)
	if err != nil {
		return configRecord{}, fmt.Errorf("read config version %d: %w", version, err)
	}
	if len(resp.Kvs) == 0 {
		return configRecord{}, fmt.Errorf("config version %d: %w", version, errNoVersion)
	}
	return decode[configRecord](key, resp.Kvs[0].Value)
}

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

// refresh rebuilds and publishes the snapshot when the store holds a newer
// state than the one served. Only the watch loop calls it.
// It returns the store revision it read at.
func (d *Director) refresh(ctx context.Context) (int64, error) {
	v, err := d.readView(ctx)
	if err != nil {
		return 0, err
	}
	old := d.cur.Load()
	if old.snap != nil && v.version <= old.snap.Version {
		return v.rev, nil
	}
	rec := old.config
	var site *cluster.Site
	if old.snap != nil && rec.Version == v.current.Version {
		site = old.snap.Config
	} else {
		if rec, err = d.configVersion(ctx, v.current.Version); err != nil {
			return 0, err
		}
		if site, err = cluster.Parse(rec.File, []byte(rec.Text)); err != nil {
			return 0, fmt.Errorf("stored config version %d: %w", rec.Version, err)
		}
	}
	snap := buildSnapshot(d.site, site, rec.Version, v)
	env, err := d.signer.Sign(snap)
	if err != nil {
		return 0, fmt.Errorf("sign snapshot %d: %w", snap.Version, err)
	}
	d.cur.Store(&published{snap: snap, env: env, config: rec, at: time.Now(), next: make(chan struct{})})
	close(old.next)
	d.met.snapshots.Inc()
	d.log.Debug("snapshot published", "version", snap.Version, "config_version", rec.Version)
	return v.rev, nil
}

// refreshEvery is the fallback refresh period when no watch event arrives,
// e.g. after the watch was cut.
const refreshEvery = 5 * time.Second

// watch keeps the published snapshot current: every change of a snapshot
// key, seen through an etcd watch, triggers a refresh.
func (d *Director) watch(ctx context.Context) {
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for ctx.Err() == nil {
		rev, err := d.refresh(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("snapshot refresh failed", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond): // the store is away: retry soon, without spinning
			}
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := d.st.client.Watch(wctx, d.keys.root, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		d.follow(ctx, wch, tick.C)
		cancel()
	}
}

// follow handles one watch stream until it ends.
func (d *Director) follow(ctx context.Context, wch clientv3.WatchChan, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if _, err := d.refresh(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("snapshot refresh failed", "err", err)
			}
		case resp, ok := <-wch:
			if !ok {
				return
			}
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					d.log.Debug("watch interrupted", "err", err)
				}
				return
			}
			relevant := false
			for _, ev := range resp.Events {
				relevant = relevant || d.keys.snapshotKey(string(ev.Kv.Key))
			}
			if !relevant {
				continue
			}
			if _, err := d.refresh(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("snapshot refresh failed", "err", err)
			}
		}
	}
}

// waitVersion waits until the served snapshot is at least version v.
func (d *Director) waitVersion(ctx context.Context, v uint64) (*published, error) {
	for {
		p := d.cur.Load()
		if p.snap != nil && p.snap.Version >= v {
			return p, nil
		}
		select {
		case <-p.next:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for snapshot %d: %w", v, ctx.Err())
		}
	}
}
