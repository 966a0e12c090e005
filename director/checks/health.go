package checks

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/health"
)

// target is one probed node or master.
type target struct {
	key    string // the state record key
	name   string
	master bool
	hc     cluster.HealthCheck
	state  cluster.Health // state in the snapshot when the check started
	cancel context.CancelFunc
	done   chan struct{}
}

// Which targets a runHealth probes.
type targetKind int

const (
	nodeTargets   targetKind = iota // the nodes: the leader's
	masterTargets                   // the masters: every director's
)

// runHealth runs the health checks of kind's targets until ctx is done.
// It follows config changes: a target whose check changed restarts, one
// removed stops.
func (c *Checker) runHealth(ctx context.Context, kind targetKind) {
	running := map[string]*target{}
	defer func() {
		for _, t := range running {
			t.cancel()
			<-t.done
		}
	}()
	for {
		p := c.pub.Current()
		if p.Snap != nil {
			want := c.targets(p.Snap)
			for key, t := range want {
				if t.master != (kind == masterTargets) {
					delete(want, key)
				}
			}
			for key, t := range running {
				if w, ok := want[key]; !ok || w.hc != t.hc {
					t.cancel()
					<-t.done
					delete(running, key)
				}
			}
			for key, w := range want {
				if _, ok := running[key]; ok {
					continue
				}
				tctx, cancel := context.WithCancel(ctx)
				w.cancel, w.done = cancel, make(chan struct{})
				running[key] = w
				go func() {
					defer close(w.done)
					c.probeLoop(tctx, w)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.Next():
		}
	}
}

// targets lists what a snapshot asks to probe, keyed by state record key.
func (c *Checker) targets(s *cluster.Snapshot) map[string]*target {
	out := map[string]*target{}
	for _, n := range s.Config.Nodes {
		k := c.site.Keys.Node(n.Name)
		out[k] = &target{key: k, name: n.Name, hc: n.Health, state: s.Node(n.Name).Health}
	}
	ms := []cluster.Master{s.Config.Masters.Primary}
	if b := s.Config.Masters.Backup; b != nil {
		ms = append(ms, *b)
	}
	for _, m := range ms {
		k := c.site.Keys.Master(m.Name)
		out[k] = &target{key: k, name: m.Name, master: true, hc: m.Health, state: s.Master(m.Name).Health}
	}
	return out
}

// probeLoop probes one target every interval and stores the changes of
// its verdict.
//
// A node is probed by the leader only. A master is probed by every
// director, so that a master's death is stored within its own fall time
// even when the director that dies is the leader (whose lease the others
// would otherwise wait for): every director stores a master's fall, and
// only the leader stores its rise. When another director stored a master
// down that the leader finds up (it reaches the master where the other
// does not), the leader stores it up again once it has seen rise passes
// in a row after that change; a master that really fell fails the
// leader's probes too, so the leader never undoes a true fall.
func (c *Checker) probeLoop(ctx context.Context, t *target) {
	probe, err := health.ForCheck(t.hc, c.turnProbe)
	if err != nil {
		// Site validation refuses such a check; say so rather than guess.
		c.log.Error("health check not run", "target", t.name, "err", err)
		return
	}
	h := health.NewRiseFall(t.hc.Rise, t.hc.Fall, t.state)
	stored, passes := t.state, 0 // the stored state last seen, passes since it changed
	tick := time.NewTicker(t.hc.Interval.D())
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, t.hc.Timeout.D())
		err := probe.Check(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		result := "success"
		if err != nil {
			result = "failure"
		}
		c.met.checks.WithLabelValues(string(t.hc.Kind), result).Inc()
		if s := c.stored(t); s != stored {
			stored, passes = s, 0
		}
		if err == nil {
			passes++
		} else {
			passes = 0
		}
		prev := h.State()
		changed, reason := h.Observe(err)
		store := changed
		if t.master && !c.Leading() && h.State() != cluster.Down {
			store = false // a rise of a master is the leader's to store
		}
		if t.master && c.Leading() && !changed && h.State() == cluster.Up && stored == cluster.Down && passes >= t.hc.Rise {
			store, reason = true, fmt.Sprintf("%d checks passed on the leader since it was stored down", passes)
		}
		if store {
			if werr := c.storeHealth(ctx, t.key, h.State(), reason); werr != nil {
				// Not stored: forget the verdict so the next probe retries.
				h.Set(prev)
				if ctx.Err() == nil {
					c.log.Warn("health change not stored", "target", t.name, "err", werr)
				}
			} else {
				c.log.Info("health changed", "target", t.name, "health", h.State(), "reason", reason)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stored is target t's health in the published snapshot.
func (c *Checker) stored(t *target) cluster.Health {
	p := c.pub.Current()
	if p.Snap == nil {
		return cluster.Unknown
	}
	if t.master {
		return p.Snap.Master(t.name).Health
	}
	return p.Snap.Node(t.name).Health
}

func (c *Checker) storeHealth(ctx context.Context, key string, h cluster.Health, reason string) error {
	_, err := c.site.UpdateState(ctx, key, func(r *store.StateRecord) bool {
		if r.Health == h {
			return false
		}
		r.Health, r.Since, r.Reason = h, time.Now().UTC(), reason
		return true
	})
	return err
}

// turnProbe runs checks of kind turn: a real allocation where the wiring
// gives one, else a TCP connection to the relay.
func (c *Checker) turnProbe(ctx context.Context, hc cluster.HealthCheck) error {
	if c.cfg.TURNProbe != nil {
		return c.cfg.TURNProbe(ctx, hc)
	}
	return health.TCP(hc.Target).Check(ctx)
}
