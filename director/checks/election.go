package checks

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/meridian-traffic/meridian/director/store"
)

// Run probes the masters for as long as ctx lasts, whether or not this
// director leads, and campaigns for leadership, running the nodes' health
// checks while it leads; when the lease is lost it campaigns again.
//
// The masters are probed by every director so that the support hostname
// swings within the masters' own fall time of a master's death, also
// when the director that dies is the leader: a leader killed without
// resigning keeps its lease (and the nodes' checks with it) until the
// lease expires.
func (c *Checker) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.runHealth(ctx, masterTargets)
	}()
	defer func() { <-done }()
	for ctx.Err() == nil {
		if err := c.lead(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("leader election", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond): // the store is away: do not spin
			}
		}
	}
}

// lead runs one campaign and, once won, the health checks until the
// session ends or ctx is done.
func (c *Checker) lead(ctx context.Context) error {
	// The session outlives ctx briefly so that Close can revoke the lease
	// on a clean stop; a store that is away cannot hold the stop up longer.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(3*time.Second, scancel) })
	defer stopAfter()
	s, err := concurrency.NewSession(c.site.Client(), concurrency.WithTTL(c.cfg.ElectionTTL), concurrency.WithContext(sctx))
	if err != nil {
		return fmt.Errorf("election session: %w", err)
	}
	defer s.Close()
	e := concurrency.NewElection(s, c.site.Keys.Election())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// A campaign blocked on a lost session must not wait forever.
		select {
		case <-s.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	if err := e.Campaign(cctx, c.cfg.Name); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	c.leading.Store(true)
	c.met.leading.Set(1)
	defer func() {
		c.leading.Store(false)
		c.met.leading.Set(0)
	}()
	c.log.Info("leading: running the nodes' health checks", "director", c.cfg.Name)
	c.runHealth(cctx, nodeTargets)
	if ctx.Err() != nil {
		// Stopping: hand leadership over at once rather than after the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		if err := e.Resign(rctx); err != nil {
			c.log.Debug("resign", "err", err)
		}
		return nil
	}
	c.log.Warn("leadership lost")
	return nil
}

// Leader names the director of site currently leading ("" when none).
func Leader(ctx context.Context, site *store.Site) string {
	resp, err := site.Client().Get(ctx, site.Keys.Election()+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}
