package publish

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// refreshEvery is the fallback refresh period when no watch event arrives,
// e.g. after the watch was cut.
const refreshEvery = 5 * time.Second

// Watch keeps the published snapshot current: every change of a snapshot
// key, seen through an etcd watch, triggers a refresh.
func (p *Publisher) Watch(ctx context.Context) {
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for ctx.Err() == nil {
		rev, err := p.Refresh(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("snapshot refresh failed", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond): // the store is away: retry soon, without spinning
			}
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := p.site.Client().Watch(wctx, p.site.Keys.Root(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		p.follow(ctx, wch, tick.C)
		cancel()
	}
}

// follow handles one watch stream until it ends.
func (p *Publisher) follow(ctx context.Context, wch clientv3.WatchChan, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if _, err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("snapshot refresh failed", "err", err)
			}
		case resp, ok := <-wch:
			if !ok {
				return
			}
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					p.log.Debug("watch interrupted", "err", err)
				}
				return
			}
			relevant := false
			for _, ev := range resp.Events {
				relevant = relevant || p.site.Keys.SnapshotKey(string(ev.Kv.Key))
			}
			if !relevant {
				continue
			}
			if _, err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("snapshot refresh failed", "err", err)
			}
		}
	}
}
