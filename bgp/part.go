package bgp

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	dirapi "github.com/meridian-traffic/meridian/director/api"
)

// Part runs a node's speaker as the site says; its Apply and Heartbeat
// are those of the node agent's parts. Apply starts the speaker when the
// node gets a bgp block, follows its accepting switch, drain and secondary
// flag in place, restarts it (planned withdraw, then the new config) when
// the bgp block or anycast prefixes change, and stops it when the node
// leaves the site. A config the speaker refuses is logged and the running
// speaker is kept. Methods are safe for concurrent use.
type Part struct {
	base    Config // wiring only: probes, command, retry, logger
	metrics *metrics

	mu  sync.Mutex
	cur *running
}

type running struct {
	sp        *Speaker
	cfg       Config
	accepting bool
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewPart returns a Part whose speakers use base's Probes, Command,
// ConnectRetry, Logger and Registerer (metrics are registered once, here).
// The site part of base is ignored.
func NewPart(base Config) (*Part, error) {
	m, err := newMetrics(base.Registerer)
	if err != nil {
		return nil, err
	}
	if base.Logger == nil {
		base.Logger = discardLogger()
	}
	return &Part{base: base, metrics: m}, nil
}

// partTimeout bounds a request to a running speaker from Apply or
// Heartbeat; the speaker's loop answers in microseconds unless stopping.
const partTimeout = 2 * time.Second

// Apply follows one snapshot. Stopping a speaker waits for its planned
// withdraw (the graceful-shutdown time).
func (p *Part) Apply(ctx context.Context, snap *cluster.Snapshot, self *cluster.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg, ok := NodeConfig(self)
	if !ok {
		p.stopLocked()
		return
	}
	accepting := self.Accepting
	if snap != nil && snap.Node(self.Name).Drained {
		accepting = false
	}
	cfg.Draining = !accepting
	if p.cur != nil && sameSite(p.cur.cfg, cfg) {
		rctx, cancel := context.WithTimeout(ctx, partTimeout)
		defer cancel()
		if err := p.cur.sp.SetAccepting(rctx, accepting); err != nil {
			p.base.Logger.Error("bgp: set accepting", "err", err)
		}
		if err := p.cur.sp.SetSecondary(rctx, cfg.Secondary); err != nil {
			p.base.Logger.Error("bgp: set secondary", "err", err)
		}
		p.cur.cfg.Secondary, p.cur.cfg.Draining = cfg.Secondary, cfg.Draining
		return
	}
	full := p.base
	full.BGP, full.Anycast, full.Secondary, full.Draining = cfg.BGP, cfg.Anycast, cfg.Secondary, cfg.Draining
	full.shared = p.metrics
	sp, err := New(full)
	if err != nil {
		p.base.Logger.Error("bgp: config refused; the running speaker stays", "node", self.Name, "err", err)
		return
	}
	p.stopLocked()
	// The speaker lives as long as the agent's context, not this call.
	rctx, cancel := context.WithCancel(ctx)
	r := &running{sp: sp, cfg: full, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := sp.Run(rctx); err != nil {
			p.base.Logger.Error("bgp speaker failed", "err", err)
		}
	}()
	p.cur = r
}

// sameSite reports whether b can be reached from a without a restart:
// only the accepting switch and the secondary flag differ.
func sameSite(a, b Config) bool {
	return reflect.DeepEqual(a.BGP, b.BGP) && reflect.DeepEqual(a.Anycast, b.Anycast)
}

func (p *Part) stopLocked() {
	if p.cur == nil {
		return
	}
	p.cur.cancel()
	<-p.cur.done
	p.cur = nil
}

// Close stops the speaker with a planned withdraw and waits for it.
func (p *Part) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

// Speaker is the running speaker, for an operator's Withdraw or Resume
// and for Status; nil when none runs. An operator's withdraw does not
// survive a restart for a config change.
func (p *Part) Speaker() *Speaker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	return p.cur.sp
}

// Heartbeat fills the announced prefixes and the sessions.
func (p *Part) Heartbeat(hb *dirapi.Heartbeat) {
	sp := p.Speaker()
	if sp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), partTimeout)
	defer cancel()
	st, err := sp.Status(ctx)
	if err != nil {
		if !errors.Is(err, ErrStopped) {
			p.base.Logger.Warn("bgp: status for the heartbeat", "err", err)
		}
		return
	}
	hb.Announcing = st.Announcing
	hb.BGP = st.Peers()
}
