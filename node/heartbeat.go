package node

import (
	"context"
	"errors"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
)

// heartbeats sends one heartbeat at once and then every HeartbeatEvery
// until ctx is done. A removed node stays silent.
func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		if !a.sub.Stats().Removed {
			if err := a.sub.SendHeartbeat(ctx, a.heartbeat(ctx)); err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrRemoved) {
				a.log.Debug("heartbeat not delivered", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeat builds the next heartbeat with what every part adds.
func (a *Agent) heartbeat(context.Context) *api.Heartbeat {
	hb := &api.Heartbeat{
		Node:   a.cfg.Name,
		Uptime: api.Duration(time.Since(a.started)),
	}
	if s := a.sub.Current(); s != nil {
		hb.Version = s.Version
	}
	if l, err := loadAvg(a.cfg.LoadAvgFile); err == nil {
		hb.Load = l
	} else {
		a.log.Debug("no load average", "err", err)
	}
	a.partsMu.Lock()
	defer a.partsMu.Unlock()
	for _, p := range a.cfg.Parts {
		p.Heartbeat(hb)
	}
	return hb
}
