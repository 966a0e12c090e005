package director

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// elect campaigns for leadership and runs the health checks while this
// director leads; when the lease is lost it campaigns again.
func (d *Director) elect(ctx context.Context) {
	for ctx.Err() == nil {
		if err := d.lead(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("leader election", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond): // the store is away: do not spin
			}
		}
	}
}

// lead runs one campaign and, once won, the health checks until the
// session ends or ctx is done.
func (d *Director) lead(ctx context.Context) error {
	// The session outlives ctx briefly so that Close can revoke the lease
	// on a clean stop; a store that is away cannot hold the stop up longer.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(3*time.Second, scancel) })
	defer stopAfter()
	s, err := concurrency.NewSession(d.st.client, concurrency.WithTTL(d.cfg.ElectionTTL), concurrency.WithContext(sctx))
	if err != nil {
		return fmt.Errorf("election session: %w", err)
	}
	defer s.Close()
	e := concurrency.NewElection(s, d.keys.election())
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
	if err := e.Campaign(cctx, d.cfg.Name); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	d.leading.Store(true)
	d.met.leading.Set(1)
	defer func() {
		d.leading.Store(false)
		d.met.leading.Set(0)
	}()
	d.log.Info("leading: running health checks", "director", d.cfg.Name)
	d.runHealth(cctx)
	if ctx.Err() != nil {
		// Stopping: hand leadership over at once rather than after the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		if err := e.Resign(rctx); err != nil {
			d.log.Debug("resign", "err", err)
		}
		return nil
	}
	d.log.Warn("leadership lost")
	return nil
}

// leader names the director currently leading ("" when none).
func (d *Director) leader(ctx context.Context) string {
	resp, err := d.st.client.Get(ctx, d.keys.election()+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}
