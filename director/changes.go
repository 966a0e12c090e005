package director

import (
	"bytes"
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// casRetries bounds optimistic-concurrency retries: conflicts come only
// from other operators or directors writing the same key at once.
const casRetries = 10

// publishWait bounds how long a change waits to be served by this director
// before it answers; the change is stored either way.
const publishWait = 5 * time.Second

// change is one config change: mutate turns the running site file into the
// new one; extra operations ride in the same transaction.
type change struct {
	author, comment, file string
	mutate                func(cur configRecord) ([]byte, error)
	extra                 []clientv3.Op
}

// changeConfig stores a new config version on top of the running one. A
// text equal to the running one stores nothing.
func (d *Director) changeConfig(ctx context.Context, c change) (api.ChangeResult, error) {
	k := d.keys
	for range casRetries {
		resp, err := d.st.client.Get(ctx, k.current())
		if err != nil {
			return api.ChangeResult{}, fmt.Errorf("read current config: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return api.ChangeResult{}, errNoConfig
		}
		ptr, err := decode[currentRecord](k.current(), resp.Kvs[0].Value)
		if err != nil {
			return api.ChangeResult{}, err
		}
		cur, err := d.configVersion(ctx, ptr.Version)
		if err != nil {
			return api.ChangeResult{}, err
		}
		text, err := c.mutate(cur)
		if err != nil {
			return api.ChangeResult{}, err
		}
		file := c.file
		if file == "" {
			file = cur.File
		}
		if _, err := d.parseForSite(file, text); err != nil {
			return api.ChangeResult{}, err
		}
		if bytes.Equal(text, []byte(cur.Text)) {
			p := d.cur.Load()
			if p.snap != nil {
				return api.ChangeResult{ConfigVersion: cur.Version, Version: p.snap.Version}, nil
			}
		}
		now := time.Now().UTC()
		rec := configRecord{
			Version: ptr.Version + 1, Author: c.author, Time: now, Comment: c.comment,
			Diff: unifiedDiff(fmt.Sprintf("version %d", cur.Version), fmt.Sprintf("version %d", ptr.Version+1), cur.Text, string(text)),
			File: file, Text: string(text),
		}
		ops := append([]clientv3.Op{
			clientv3.OpPut(k.version(rec.Version), encode(rec)),
			clientv3.OpPut(k.current(), encode(currentRecord{Version: rec.Version, At: now})),
		}, c.extra...)
		tr, err := d.st.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k.current()), "=", resp.Kvs[0].ModRevision)).
			Then(ops...).Commit()
		if err != nil {
			return api.ChangeResult{}, fmt.Errorf("store config version %d: %w", rec.Version, err)
		}
		if !tr.Succeeded {
			continue
		}
		d.log.Info("config changed", "version", rec.Version, "author", rec.Author, "comment", rec.Comment)
		res := api.ChangeResult{ConfigVersion: rec.Version, Version: uint64(tr.Header.Revision)}
		d.awaitPublished(ctx, res.Version)
		return res, nil
	}
	return api.ChangeResult{}, errConflict
}

// parseForSite validates a site file and checks it is this director's site.
func (d *Director) parseForSite(file string, text []byte) (*cluster.Site, error) {
	s, err := cluster.Parse(file, text)
	if err != nil {
		return nil, err
	}
	if s.Name != d.site {
		fe := cluster.FieldError{File: file, Field: "site", Msg: fmt.Sprintf("%q is not this director's site %q", s.Name, d.site)}
		fe.Line, fe.Col = keyPos(text, "site")
		return nil, &cluster.ValidationError{Errors: []cluster.FieldError{fe}}
	}
	return s, nil
}

// keyPos finds a top-level key of a YAML document (0, 0 when absent).
func keyPos(text []byte, key string) (int, int) {
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i+1].Line, root.Content[i+1].Column
		}
	}
	return 0, 0
}

// awaitPublished waits, bounded, until this director serves version v, so
// that a read right after a change sees it.
func (d *Director) awaitPublished(ctx context.Context, v uint64) {
	wctx, cancel := context.WithTimeout(ctx, publishWait)
	defer cancel()
	if _, err := d.waitVersion(wctx, v); err != nil {
		d.log.Warn("change stored but not yet served", "version", v, "err", err)
	}
}

// updateState changes one node or master state record with
// compare-and-swap; f returns false when nothing changes. It returns the
// store revision of the write, or 0 when nothing was written.
func (d *Director) updateState(ctx context.Context, key string, f func(*stateRecord) bool) (int64, error) {
	for range casRetries {
		resp, err := d.st.client.Get(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", key, err)
		}
		r := stateRecord{Health: cluster.Unknown}
		var rev int64
		if len(resp.Kvs) > 0 {
			if r, err = decode[stateRecord](key, resp.Kvs[0].Value); err != nil {
				return 0, err
			}
			rev = resp.Kvs[0].ModRevision
		}
		if !f(&r) {
			return 0, nil
		}
		r.At = time.Now().UTC()
		tr, err := d.st.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, encode(r))).Commit()
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", key, err)
		}
		if tr.Succeeded {
			return tr.Header.Revision, nil
		}
	}
	return 0, errConflict
}

// setDrained drains or undrains a node: a run-time state, not a config
// edit.
func (d *Director) setDrained(ctx context.Context, name string, drained bool) (api.ChangeResult, error) {
	p := d.cur.Load()
	if p.snap == nil || p.snap.Config.Node(name) == nil {
		return api.ChangeResult{}, fmt.Errorf("node %q: %w", name, errNoNode)
	}
	rev, err := d.updateState(ctx, d.keys.node(name), func(r *stateRecord) bool {
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
		return api.ChangeResult{ConfigVersion: p.snap.ConfigVersion, Version: p.snap.Version}, nil
	}
	d.log.Info("node drain changed", "node", name, "drained", drained)
	d.awaitPublished(ctx, uint64(rev))
	q := d.cur.Load()
	return api.ChangeResult{ConfigVersion: q.snap.ConfigVersion, Version: uint64(rev)}, nil
}

// removeNode drops a node from the site file (a new config version) and
// deletes its run-time state; its agent gets 410 on its next sync.
func (d *Director) removeNode(ctx context.Context, name, author string) (api.ChangeResult, error) {
	return d.changeConfig(ctx, change{
		author: author, comment: "remove node " + name,
		mutate: func(cur configRecord) ([]byte, error) { return removeNodeYAML([]byte(cur.Text), name) },
		extra: []clientv3.Op{
			clientv3.OpDelete(d.keys.node(name)),
			clientv3.OpDelete(d.keys.heartbeat(name)),
		},
	})
}

// rollback stores version v's site file as a new version.
func (d *Director) rollback(ctx context.Context, v uint64, author string) (api.ChangeResult, error) {
	old, err := d.configVersion(ctx, v)
	if err != nil {
		return api.ChangeResult{}, err
	}
	return d.changeConfig(ctx, change{
		author: author, comment: fmt.Sprintf("rollback to %d", v), file: old.File,
		mutate: func(configRecord) ([]byte, error) { return []byte(old.Text), nil },
	})
}

// history lists config versions, newest first.
func (d *Director) history(ctx context.Context) ([]api.ConfigVersion, error) {
	resp, err := d.st.client.Get(ctx, d.keys.versions(), clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, fmt.Errorf("read config history: %w", err)
	}
	out := make([]api.ConfigVersion, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r, err := decode[configRecord](string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, api.ConfigVersion{Version: r.Version, Author: r.Author, Time: r.Time, Comment: r.Comment, Diff: r.Diff})
	}
	return out, nil
}

// seed stores the initial site as version 1 unless the store holds one.
func (d *Director) seed(ctx context.Context, file string, text []byte, author string) error {
	now := time.Now().UTC()
	rec := configRecord{Version: 1, Author: author, Time: now, Comment: "initial site", File: file, Text: string(text),
		Diff: unifiedDiff("empty", "version 1", "", string(text))}
	tr, err := d.st.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(d.keys.current()), "=", 0)).
		Then(
			clientv3.OpPut(d.keys.version(1), encode(rec)),
			clientv3.OpPut(d.keys.current(), encode(currentRecord{Version: 1, At: now})),
		).Commit()
	if err != nil {
		return fmt.Errorf("store initial site: %w", err)
	}
	if tr.Succeeded {
		d.log.Info("initial site stored", "site", d.site, "file", file)
	} else {
		d.log.Info("store already holds the site; initial site file ignored", "site", d.site)
	}
	return nil
}
