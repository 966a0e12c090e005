package director

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
)

// DefaultSyncTimeout is how long "sync now" waits for every subscriber.
const DefaultSyncTimeout = 5 * time.Second

// syncNow publishes a new snapshot version and follows every subscriber
// seen by this director until it holds it, reports a failure, or timeout
// passes. The events go to the status history.
func (d *Director) syncNow(ctx context.Context, timeout time.Duration, by string) (api.SyncReport, error) {
	start := time.Now()
	subs := d.subs.active(start, d.cfg.SyncWait+d.cfg.LagAfter)
	resp, err := d.st.client.Put(ctx, d.keys.marker(), encode(markerRecord{At: start.UTC(), By: by}))
	if err != nil {
		return api.SyncReport{}, fmt.Errorf("publish sync marker: %w", err)
	}
	version := uint64(resp.Header.Revision)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := d.waitVersion(wctx, version); err != nil {
		return api.SyncReport{}, err
	}

	type progress struct{ started, done bool }
	state := make(map[string]*progress, len(subs))
	for _, id := range subs {
		state[id] = &progress{}
	}
	var events []api.SyncEvent
	pending := len(subs)
	for pending > 0 {
		changed := d.subs.wait()
		for _, id := range subs {
			st := state[id]
			if st.done {
				continue
			}
			s, ok := d.subs.get(id)
			if !ok {
				continue
			}
			if !st.started && s.sent >= version {
				st.started = true
				events = append(events, api.SyncEvent{Time: s.sentAt.UTC(), Subscriber: id, Event: "started", Version: version})
			}
			switch {
			case s.version >= version:
				st.done = true
				events = append(events, api.SyncEvent{Time: s.versionAt.UTC(), Subscriber: id, Event: "finished",
					Version: version, Duration: api.Duration(s.versionAt.Sub(start))})
			case s.failed != "" && s.failedAt.After(start):
				st.done = true
				events = append(events, api.SyncEvent{Time: s.failedAt.UTC(), Subscriber: id, Event: "failed",
					Version: version, Reason: s.failed})
			}
			if st.done {
				pending--
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-changed:
		case <-wctx.Done():
			pending = 0
		}
	}
	now := time.Now()
	for _, id := range subs {
		if st := state[id]; !st.done {
			reason := fmt.Sprintf("not acknowledged within %s", timeout)
			if !st.started {
				reason = fmt.Sprintf("not sent within %s (subscriber not polling)", timeout)
			}
			events = append(events, api.SyncEvent{Time: now.UTC(), Subscriber: id, Event: "failed", Version: version, Reason: reason})
		}
	}
	if err := d.appendHistory(ctx, events); err != nil {
		d.log.Warn("sync history not stored", "err", err)
	}
	p := d.cur.Load()
	var lagging []api.Subscriber
	for _, s := range d.subs.list(now, p.snap.Version, p.at, d.cfg.SyncWait, d.cfg.LagAfter) {
		if s.Lagging {
			lagging = append(lagging, s)
		}
	}
	d.log.Info("sync now", "version", version, "subscribers", len(subs), "events", len(events))
	return api.SyncReport{Version: version, Events: events, Lagging: lagging}, nil
}

// appendHistory stores events in the bounded status history: the newest
// HistoryLimit are kept.
func (d *Director) appendHistory(ctx context.Context, events []api.SyncEvent) error {
	if len(events) == 0 {
		return nil
	}
	ops := make([]clientv3.Op, 0, len(events))
	for _, e := range events {
		seq := d.historySeq.Add(1)
		key := fmt.Sprintf("%s%020d-%s-%d", d.keys.history(), e.Time.UnixNano(), d.cfg.Name, seq)
		ops = append(ops, clientv3.OpPut(key, encode(e)))
	}
	if _, err := d.st.client.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("store sync events: %w", err)
	}
	return d.pruneHistory(ctx)
}

func (d *Director) pruneHistory(ctx context.Context) error {
	pfx := d.keys.history()
	resp, err := d.st.client.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("count sync history: %w", err)
	}
	excess := resp.Count - int64(d.cfg.HistoryLimit)
	if excess <= 0 {
		return nil
	}
	old, err := d.st.client.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(excess))
	if err != nil {
		return fmt.Errorf("read old sync history: %w", err)
	}
	if len(old.Kvs) == 0 {
		return nil
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	if _, err := d.st.client.Delete(ctx, pfx, clientv3.WithRange(last+"\x00")); err != nil {
		return fmt.Errorf("prune sync history: %w", err)
	}
	return nil
}

// syncHistory lists the status history, newest first.
func (d *Director) syncHistory(ctx context.Context) ([]api.SyncEvent, error) {
	resp, err := d.st.client.Get(ctx, d.keys.history(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(d.cfg.HistoryLimit)))
	if err != nil {
		return nil, fmt.Errorf("read sync history: %w", err)
	}
	out := make([]api.SyncEvent, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e, err := decode[api.SyncEvent](string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
