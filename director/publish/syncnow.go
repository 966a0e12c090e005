package publish

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/director/store"
)

// DefaultSyncTimeout is how long "sync now" waits for every subscriber.
const DefaultSyncTimeout = 5 * time.Second

// SyncNow publishes a new snapshot version and follows every subscriber
// seen by this director until it holds it, reports a failure, or timeout
// passes. The events go to the status history.
func (p *Publisher) SyncNow(ctx context.Context, timeout time.Duration, by string) (api.SyncReport, error) {
	start := time.Now()
	var subs []string
	for _, id := range p.subs.active(start, p.cfg.SyncWait+p.cfg.LagAfter) {
		if s, ok := p.subs.get(id); ok && !p.removed(s.Kind, id) {
			subs = append(subs, id)
		}
	}
	resp, err := p.site.Client().Put(ctx, p.site.Keys.Marker(), store.Encode(store.MarkerRecord{At: start.UTC(), By: by}))
	if err != nil {
		return api.SyncReport{}, fmt.Errorf("publish sync marker: %w", err)
	}
	version := uint64(resp.Header.Revision)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := p.WaitVersion(wctx, version); err != nil {
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
		changed := p.subs.wait()
		for _, id := range subs {
			st := state[id]
			if st.done {
				continue
			}
			s, ok := p.subs.get(id)
			if !ok {
				continue
			}
			if !st.started && s.Sent >= version {
				st.started = true
				events = append(events, api.SyncEvent{Time: s.SentAt.UTC(), Subscriber: id, Event: "started", Version: version})
			}
			switch {
			case s.Version >= version:
				st.done = true
				events = append(events, api.SyncEvent{Time: s.VersionAt.UTC(), Subscriber: id, Event: "finished",
					Version: version, Duration: api.Duration(s.VersionAt.Sub(start))})
			case s.Failed != "" && s.FailedAt.After(start):
				st.done = true
				events = append(events, api.SyncEvent{Time: s.FailedAt.UTC(), Subscriber: id, Event: "failed",
					Version: version, Reason: s.Failed})
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
	if err := p.AppendHistory(ctx, events); err != nil {
		p.log.Warn("sync history not stored", "err", err)
	}
	var lagging []api.Subscriber
	for _, s := range p.Subscribers(now) {
		if s.Lagging {
			lagging = append(lagging, s)
		}
	}
	p.log.Info("sync now", "version", version, "subscribers", len(subs), "events", len(events))
	return api.SyncReport{Version: version, Events: events, Lagging: lagging}, nil
}

// AppendHistory stores events in the bounded status history: the newest
// HistoryLimit are kept.
func (p *Publisher) AppendHistory(ctx context.Context, events []api.SyncEvent) error {
	if len(events) == 0 {
		return nil
	}
	ops := make([]clientv3.Op, 0, len(events))
	for _, e := range events {
		seq := p.historySeq.Add(1)
		key := fmt.Sprintf("%s%020d-%s-%d", p.site.Keys.History(), e.Time.UnixNano(), p.cfg.Name, seq)
		ops = append(ops, clientv3.OpPut(key, store.Encode(e)))
	}
	if _, err := p.site.Client().Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("store sync events: %w", err)
	}
	if err := p.site.KeepNewest(ctx, p.site.Keys.History(), p.cfg.HistoryLimit); err != nil {
		return fmt.Errorf("trim sync history: %w", err)
	}
	return nil
}

// SyncHistory lists the status history, newest first.
func (p *Publisher) SyncHistory(ctx context.Context) ([]api.SyncEvent, error) {
	resp, err := p.site.Client().Get(ctx, p.site.Keys.History(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(p.cfg.HistoryLimit)))
	if err != nil {
		return nil, fmt.Errorf("read sync history: %w", err)
	}
	out := make([]api.SyncEvent, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e, err := store.Decode[api.SyncEvent](string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
