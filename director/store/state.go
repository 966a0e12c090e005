package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
)

// UpdateState changes one node or master state record with
// compare-and-swap; f returns false when nothing changes. It returns the
// store revision of the write, or 0 when nothing was written.
func (s *Site) UpdateState(ctx context.Context, key string, f func(*StateRecord) bool) (int64, error) {
	for range casRetries {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", key, err)
		}
		r := StateRecord{Health: cluster.Unknown}
		var rev int64
		if len(resp.Kvs) > 0 {
			if r, err = Decode[StateRecord](key, resp.Kvs[0].Value); err != nil {
				return 0, err
			}
			rev = resp.Kvs[0].ModRevision
		}
		if !f(&r) {
			return 0, nil
		}
		r.At = time.Now().UTC()
		tr, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, Encode(r))).Commit()
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", key, err)
		}
		if tr.Succeeded {
			return tr.Header.Revision, nil
		}
	}
	return 0, ErrConflict
}
