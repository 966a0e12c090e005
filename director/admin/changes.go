package admin

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
)

// publishWait bounds how long a change waits to be served by this director
// before it answers; the change is stored either way.
const publishWait = 5 * time.Second

// changeConfig stores a new config version on top of the running one and
// waits, bounded, until this director serves it. A text equal to the
// running one stores nothing.
func (a *API) changeConfig(ctx context.Context, c store.Change) (api.ChangeResult, error) {
	rec, rev, err := a.site.ChangeConfig(ctx, c)
	if err != nil {
		return api.ChangeResult{}, err
	}
	if rev == 0 {
		return api.ChangeResult{ConfigVersion: rec.Version, Version: a.pub.Current().Snap.Version, Unchanged: true}, nil
	}
	res := api.ChangeResult{ConfigVersion: rec.Version, Version: uint64(rev)}
	a.awaitPublished(ctx, res.Version)
	return res, nil
}

// awaitPublished waits, bounded, until this director serves version v, so
// that a read right after a change sees it.
func (a *API) awaitPublished(ctx context.Context, v uint64) {
	wctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	if _, err := a.pub.WaitVersion(wctx, v); err != nil {
		a.log.Warn("change stored but not yet served", "version", v, "err", err)
	}
}

// setDrained drains or undrains a node: a run-time state, not a config
// edit.
func (a *API) setDrained(ctx context.Context, name string, drained bool) (api.ChangeResult, error) {
	p := a.pub.Current()
	if p.Snap == nil || p.Snap.Config.Node(name) == nil {
		return api.ChangeResult{}, fmt.Errorf("node %q: %w", name, store.ErrNoNode)
	}
	rev, err := a.site.UpdateState(ctx, a.site.Keys.Node(name), func(r *store.StateRecord) bool {
		if r.Drained == drained {
			return false
		}
		r.Drained = drained
		return true
	})
	if err != nil {
		return api.ChangeResult{}, err
	}
	if rev == 0 {
		return api.ChangeResult{ConfigVersion: p.Snap.ConfigVersion, Version: p.Snap.Version, Unchanged: true}, nil
	}
	a.log.Info("node drain changed", "node", name, "drained", drained)
	a.awaitPublished(ctx, uint64(rev))
	q := a.pub.Current()
	return api.ChangeResult{ConfigVersion: q.Snap.ConfigVersion, Version: uint64(rev)}, nil
}

// removeNode drops a node from the site file (a new config version) and
// deletes its run-time state; its agent gets 410 on its next sync.
func (a *API) removeNode(ctx context.Context, name, author string) (api.ChangeResult, error) {
	return a.changeConfig(ctx, store.Change{
		Author: author, Comment: "remove node " + name,
		Mutate: func(cur store.ConfigRecord) ([]byte, error) { return removeNodeYAML([]byte(cur.Text), name) },
		Extra: []clientv3.Op{
			clientv3.OpDelete(a.site.Keys.Node(name)),
			clientv3.OpDelete(a.site.Keys.Heartbeat(name)),
		},
	})
}

// rollback stores version v's site file as a new version.
func (a *API) rollback(ctx context.Context, v uint64, author string) (api.ChangeResult, error) {
	old, err := a.site.ConfigVersion(ctx, v)
	if err != nil {
		return api.ChangeResult{}, err
	}
	return a.changeConfig(ctx, store.Change{
		Author: author, Comment: fmt.Sprintf("rollback to %d", v), File: old.File,
		Mutate: func(store.ConfigRecord) ([]byte, error) { return []byte(old.Text), nil },
	})
}
