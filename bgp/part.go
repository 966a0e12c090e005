package bgp

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"time"

	dirapi "github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// Part runs a node's speaker as the site says; its Apply and Heartbeat
// are those of the node agent's parts. Apply starts the speaker when the
// node gets a bgp block, follows its accepting switch, drain, secondary
// flag and the operator's withdraw (NodeState.Withdrawn) in place,
// restarts it (planned withdraw, then the new config, still withdrawn if
// the operator said so) when the bgp block or anycast prefixes change, and
// stops it when the node leaves the site. A config the speaker refuses is logged and the running
// speaker is kept. Methods are safe for concurrent use.
type Part struct {
	base    Config // wiring only: probes, command, retry, logger
	metrics *speakerMetrics

	mu  sync.Mutex
	cur *running
}

type running struct {
	sp     *Speaker
	cfg    Config
	held   string // the operator's withdraw reason the speaker holds
	cancel context.CancelFunc
	done   chan struct{}
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
	accepting := snap.Accepting(self)
	held := ""
	if snap != nil {
		held = snap.Node(self.Name).Withdrawn
	}
	cfg.Draining = !accepting
	if p.cur != nil && sameSite(p.cur.cfg, cfg) {
		rctx, cancel := context.WithTimeout(ctx, partTimeout)
		defer cancel()
		p.cur.follow(rctx, held, accepting, p.base.Logger)
		if err := p.cur.sp.SetSecondary(rctx, cfg.Secondary); err != nil {
			p.base.Logger.Error("bgp: set secondary", "err", err)
		}
		p.cur.cfg.Secondary, p.cur.cfg.Draining = cfg.Secondary, cfg.Draining
		return
	}
	full := p.base
	full.BGP, full.Anycast, full.Secondary, full.Draining = cfg.BGP, cfg.Anycast, cfg.Secondary, cfg.Draining
	// A speaker that must start withdrawn starts draining too, so it cannot
	// announce before the operator's withdraw reaches its loop.
	full.Draining = full.Draining || held != ""
	if len(cfg.Command) > 0 { // the site's command check, else the wiring's
		full.Command = cfg.Command
	}
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
	if held != "" {
		rctx, cancel := context.WithTimeout(ctx, partTimeout)
		defer cancel()
		r.follow(rctx, held, accepting, p.base.Logger)
	}
}

// follow applies the operator's withdraw, then the accepting switch. Until
// a wanted withdraw is in place the node stays drained: a planned withdraw
// either way, and the next snapshot tries again.
func (r *running) follow(ctx context.Context, held string, accepting bool, log *slog.Logger) {
	if r.held != held {
		var err error
		if held == "" {
			err = r.sp.Resume(ctx)
		} else {
			err = r.sp.Withdraw(ctx, held)
		}
		if err != nil {
			log.Error("bgp: operator withdraw", "withdrawn", held != "", "err", err)
		} else {
			r.held = held
			log.Info("bgp: operator withdraw changed", "withdrawn", held != "", "reason", held)
		}
	}
	if held != "" && r.held != held {
		accepting = false
	}
	if err := r.sp.SetAccepting(ctx, accepting); err != nil {
		log.Error("bgp: set accepting", "err", err)
	}
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

// Speaker is the running speaker, for Status; nil when none runs. The
// operator's withdraw comes with the snapshot (NodeState.Withdrawn), which
// Apply holds across restarts; a Withdraw called on it directly is not
// tracked and ends with Resume or a restart.
func (p *Part) Speaker() *Speaker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	return p.cur.sp
}

// Heartbeat fills the announced prefixes, the sessions and the speaker's
// state.
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
	hb.BGPSpeaker = &dirapi.BGPSpeaker{
		Phase: string(st.Phase), Healthy: st.Healthy, Held: st.Held,
		LastChange: st.LastChange, Reason: st.Reason,
	}
}
