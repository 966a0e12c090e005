package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
)

// casRetries bounds optimistic-concurrency retries: conflicts come only
// from other operators or directors writing the same key at once.
const casRetries = 10

// Change is one config change: Mutate turns the running site file into
// the new one; Extra operations ride in the same transaction.
type Change struct {
	Author, Comment, File string
	Mutate                func(cur ConfigRecord) ([]byte, error)
	Extra                 []clientv3.Op
}

// ChangeConfig stores a new config version on top of the running one and
// returns it with the store revision of the write. A text equal to the
// running one stores nothing: it returns the running version and rev 0.
func (s *Site) ChangeConfig(ctx context.Context, c Change) (rec ConfigRecord, rev int64, err error) {
	k := s.Keys
	for range casRetries {
		resp, err := s.client.Get(ctx, k.Current())
		if err != nil {
			return ConfigRecord{}, 0, fmt.Errorf("read current config: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return ConfigRecord{}, 0, ErrNoConfig
		}
		ptr, err := Decode[CurrentRecord](k.Current(), resp.Kvs[0].Value)
		if err != nil {
			return ConfigRecord{}, 0, err
		}
		cur, err := s.ConfigVersion(ctx, ptr.Version)
		if err != nil {
			return ConfigRecord{}, 0, err
		}
		text, err := c.Mutate(cur)
		if err != nil {
			return ConfigRecord{}, 0, err
		}
		file := c.File
		if file == "" {
			file = cur.File
		}
		if _, err := s.ParseForSite(file, text); err != nil {
			return ConfigRecord{}, 0, err
		}
		if bytes.Equal(text, []byte(cur.Text)) {
			return cur, 0, nil
		}
		now := time.Now().UTC()
		rec := ConfigRecord{
			Version: ptr.Version + 1, Author: c.Author, Time: now, Comment: c.Comment,
			Diff: unifiedDiff(fmt.Sprintf("version %d", cur.Version), fmt.Sprintf("version %d", ptr.Version+1), cur.Text, string(text)),
			File: file, Text: string(text),
		}
		ops := append([]clientv3.Op{
			clientv3.OpPut(k.Version(rec.Version), Encode(rec)),
			clientv3.OpPut(k.Current(), Encode(CurrentRecord{Version: rec.Version, At: now})),
		}, c.Extra...)
		tr, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k.Current()), "=", resp.Kvs[0].ModRevision)).
			Then(ops...).Commit()
		if err != nil {
			return ConfigRecord{}, 0, fmt.Errorf("store config version %d: %w", rec.Version, err)
		}
		if !tr.Succeeded {
			continue
		}
		s.log.Info("config changed", "version", rec.Version, "author", rec.Author, "comment", rec.Comment)
		return rec, tr.Header.Revision, nil
	}
	return ConfigRecord{}, 0, ErrConflict
}

// ConfigVersion reads one stored config version.
func (s *Site) ConfigVersion(ctx context.Context, version uint64) (ConfigRecord, error) {
	key := s.Keys.Version(version)
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return ConfigRecord{}, fmt.Errorf("read config version %d: %w", version, err)
	}
	if len(resp.Kvs) == 0 {
		return ConfigRecord{}, fmt.Errorf("config version %d: %w", version, ErrNoVersion)
	}
	return Decode[ConfigRecord](key, resp.Kvs[0].Value)
}

// History lists config versions, newest first.
func (s *Site) History(ctx context.Context) ([]api.ConfigVersion, error) {
	resp, err := s.client.Get(ctx, s.Keys.Versions(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, fmt.Errorf("read config history: %w", err)
	}
	out := make([]api.ConfigVersion, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r, err := Decode[ConfigRecord](string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, api.ConfigVersion{Version: r.Version, Author: r.Author, Time: r.Time, Comment: r.Comment, Diff: r.Diff})
	}
	return out, nil
}

// Seed stores the initial site as version 1 unless the store holds one.
func (s *Site) Seed(ctx context.Context, file string, text []byte, author string) error {
	now := time.Now().UTC()
	rec := ConfigRecord{Version: 1, Author: author, Time: now, Comment: "initial site", File: file, Text: string(text),
		Diff: unifiedDiff("empty", "version 1", "", string(text))}
	tr, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.Keys.Current()), "=", 0)).
		Then(
			clientv3.OpPut(s.Keys.Version(1), Encode(rec)),
			clientv3.OpPut(s.Keys.Current(), Encode(CurrentRecord{Version: 1, At: now})),
		).Commit()
	if err != nil {
		return fmt.Errorf("store initial site: %w", err)
	}
	if tr.Succeeded {
		s.log.Info("initial site stored", "site", s.Name, "file", file)
	} else {
		s.log.Info("store already holds the site; initial site file ignored", "site", s.Name)
	}
	return nil
}
