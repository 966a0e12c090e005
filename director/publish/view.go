package publish

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/director/store"
)

// view is one consistent read of the keys a snapshot is built from.
type view struct {
	rev     int64  // the store revision it was read at
	version uint64 // newest ModRevision among the keys: the snapshot version
	at      time.Time
	current store.CurrentRecord
	nodes   map[string]store.StateRecord
	masters map[string]store.StateRecord
}

// readView reads the snapshot keys in one transaction, so that every
// director reading at the same revision builds the same snapshot.
func (p *Publisher) readView(ctx context.Context) (*view, error) {
	k := p.site.Keys
	resp, err := p.site.Client().Txn(ctx).Then(
		clientv3.OpGet(k.Current()),
		clientv3.OpGet(k.Nodes(), clientv3.WithPrefix()),
		clientv3.OpGet(k.Masters(), clientv3.WithPrefix()),
		clientv3.OpGet(k.Marker()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read site %s: %w", p.site.Name, err)
	}
	v := &view{rev: resp.Header.Revision, nodes: map[string]store.StateRecord{}, masters: map[string]store.StateRecord{}}
	var newest int64
	note := func(rev int64, at time.Time) {
		if rev > newest {
			newest, v.at = rev, at
		}
	}
	cur := resp.Responses[0].GetResponseRange().Kvs
	if len(cur) == 0 {
		return nil, fmt.Errorf("site %s: %w", p.site.Name, store.ErrNoConfig)
	}
	if v.current, err = store.Decode[store.CurrentRecord](string(cur[0].Key), cur[0].Value); err != nil {
		return nil, err
	}
	note(cur[0].ModRevision, v.current.At)
	for i, m := range []map[string]store.StateRecord{v.nodes, v.masters} {
		prefix := k.Nodes()
		if i == 1 {
			prefix = k.Masters()
		}
		for _, kv := range resp.Responses[1+i].GetResponseRange().Kvs {
			r, err := store.Decode[store.StateRecord](string(kv.Key), kv.Value)
			if err != nil {
				return nil, err
			}
			m[string(kv.Key[len(prefix):])] = r
			note(kv.ModRevision, r.At)
		}
	}
	if mk := resp.Responses[3].GetResponseRange().Kvs; len(mk) > 0 {
		r, err := store.Decode[store.MarkerRecord](string(mk[0].Key), mk[0].Value)
		if err != nil {
			return nil, err
		}
		note(mk[0].ModRevision, r.At)
	}
	v.version = uint64(newest)
	return v, nil
}
