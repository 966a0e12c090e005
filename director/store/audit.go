package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
)

// AppendAudit stores one audit entry and drops the oldest entries beyond
// limit. Keys sort by time, then by a random suffix, so that directors
// writing at once never collide.
func (s *Site) AppendAudit(ctx context.Context, e api.AuditEntry, limit int) error {
	var suffix [4]byte
	rand.Read(suffix[:])
	key := fmt.Sprintf("%s%020d-%s", s.Keys.Audit(), e.Time.UnixNano(), hex.EncodeToString(suffix[:]))
	if _, err := s.client.Put(ctx, key, Encode(e)); err != nil {
		return fmt.Errorf("store audit entry: %w", err)
	}
	if err := s.KeepNewest(ctx, s.Keys.Audit(), limit); err != nil {
		return fmt.Errorf("trim audit: %w", err)
	}
	return nil
}

// KeepNewest deletes the oldest keys under pfx beyond the newest limit;
// keys under pfx must sort by time, as the audit and the sync history do.
func (s *Site) KeepNewest(ctx context.Context, pfx string, limit int) error {
	resp, err := s.client.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("count %s: %w", pfx, err)
	}
	excess := resp.Count - int64(limit)
	if excess <= 0 {
		return nil
	}
	old, err := s.client.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(excess))
	if err != nil {
		return fmt.Errorf("read oldest under %s: %w", pfx, err)
	}
	if len(old.Kvs) == 0 {
		return nil
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	if _, err := s.client.Delete(ctx, pfx, clientv3.WithRange(last+"\x00")); err != nil {
		return fmt.Errorf("delete oldest under %s: %w", pfx, err)
	}
	return nil
}

// Audit lists up to limit audit entries, newest first.
func (s *Site) Audit(ctx context.Context, limit int) ([]api.AuditEntry, error) {
	resp, err := s.client.Get(ctx, s.Keys.Audit(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	out := make([]api.AuditEntry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e, err := Decode[api.AuditEntry](string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
