// Package bgp is Meridian's anycast speaker: an embedded GoBGP server on a
// traffic node that announces the node's anycast prefixes to its upstream
// routers while the node is healthy and accepting, and withdraws them at
// once when its own local health check fails. Drain, an operator's
// withdraw and shutdown are planned: the prefixes are first re-announced
// with the GRACEFUL_SHUTDOWN community (RFC 8326) so routers move traffic
// away, and withdrawn after a configured wait. After any withdraw the
// prefixes come back only after rise healthy checks in a row and never
// sooner than the minimum announce interval.
//
// The speaker never asks the director: the network must react to a node's
// failure even when the control plane is away.
package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Speaker is one node's anycast BGP speaker. Create it with New, run it
// with Run; the other methods are safe from any goroutine.
type Speaker struct {
	set     *settings
	log     *slog.Logger
	metrics *speakerMetrics
	reqs    chan func(*loop)
	done    chan struct{} // closed when Run returns
	started atomic.Bool
}

// New validates cfg, reads the neighbors' password files and registers the
// metrics. Nothing is started until Run.
func New(cfg Config) (*Speaker, error) {
	set, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = discardLogger()
	}
	m := cfg.shared
	if m == nil {
		if m, err = newMetrics(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	return &Speaker{
		set:     set,
		log:     log,
		metrics: m,
		reqs:    make(chan func(*loop)),
		done:    make(chan struct{}),
	}, nil
}

// loop is the state Run's goroutine owns.
type loop struct {
	sp        *Speaker
	r         *router
	m         *machine
	neighbors map[netip.Addr]*neighborState
	// From shutdown on: the UPDATE counters when it began and the RIB
	// changes made since, so Run can wait for them to be on the wire.
	flushBase map[netip.Addr]peerInfo
	flushActs int
}

type neighborState struct {
	n      neighbor
	state  api.PeerState_SessionState
	since  time.Time
	reason string
	// lastError is the last thing that went wrong on the session (a
	// notification, a refused OPEN, no TCP connection), kept after the
	// reason moves on; cleared when the session is established.
	lastError string
	// GoBGP v3 logs a received NOTIFICATION only on an established
	// session; one that refuses the OPEN shows only in its counter.
	rxNotes  uint64
	rxLogged bool // a received NOTIFICATION was logged since the last state change
}

// Run starts GoBGP and the local health checks and serves until ctx ends.
// Then it withdraws gracefully (GRACEFUL_SHUTDOWN, the configured wait,
// withdraw), closes the sessions and returns nil. It returns an error only
// when the speaker cannot start. Run may be called once.
func (sp *Speaker) Run(ctx context.Context) error {
	if sp.started.Swap(true) {
		return ErrRunning
	}
	defer close(sp.done)

	notes := make(chan notification, 16)
	glog := &gobgpLogger{log: sp.log, notify: notes}
	r, err := startRouter(ctx, sp.set, glog)
	if err != nil {
		return err
	}
	defer r.stop()

	// Checks and the peer watch outlive ctx: the graceful withdraw after
	// ctx ends still needs them.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait() // no probe outlives Run
	defer stop()
	peers := make(chan peerEvent, 16)
	if err := r.watchPeers(bg, peers); err != nil {
		return fmt.Errorf("watch bgp peers: %w", err)
	}
	// Peers after the watch: every state change of theirs is seen (and
	// reconcile corrects the state from GoBGP's own besides).
	if err := r.addPeers(ctx); err != nil {
		return err
	}
	recon := time.NewTicker(reconcileEvery)
	defer recon.Stop()
	checks := make(chan checkResult)
	wg.Go(func() { runChecks(bg, sp.set.check, checks) })

	now := time.Now()
	l := &loop{
		sp:        sp,
		r:         r,
		m:         newMachine(sp.set.check, sp.set.gshutWait, sp.set.minInterval, !sp.set.draining, now),
		neighbors: map[netip.Addr]*neighborState{},
	}
	for _, n := range sp.set.neighbors {
		l.neighbors[n.addr] = &neighborState{n: n, state: api.PeerState_IDLE, since: now, reason: "configured"}
		sp.metrics.session.WithLabelValues(n.addr.String()).Set(float64(api.PeerState_IDLE))
	}
	sp.log.Info("bgp speaker started", "asn", sp.set.asn, "router_id", sp.set.routerID,
		"listen", listenString(sp.set), "neighbors", len(sp.set.neighbors), "prefixes", sp.set.prefixes)

	var wake *time.Timer
	wakeC := func() <-chan time.Time {
		if wake != nil {
			wake.Stop()
			wake = nil
		}
		at := l.m.wake()
		if at.IsZero() {
			return nil
		}
		wake = time.NewTimer(time.Until(at))
		return wake.C
	}
	done := ctx.Done()
	for {
		l.apply(time.Now())
		if l.m.stopping && l.m.phase == PhaseWithdrawn {
			l.flush()
			sp.log.Info("bgp speaker stopped")
			return nil
		}
		timer := wakeC()
		select {
		case <-done:
			done = nil
			l.m.stopping = true
			l.flushBase, _ = r.peers(bg)
		case res := <-checks:
			l.check(res)
		case ev := <-peers:
			l.peerEvent(ev)
		case n := <-notes:
			l.notification(n)
		case f := <-sp.reqs:
			f(l)
		case <-recon.C:
			l.reconcile(bg, time.Now())
		case <-timer:
		}
	}
}

// flushTimeout bounds how long a stopping speaker waits for its last
// updates to leave; closing the sessions withdraws the routes anyway.
const flushTimeout = time.Second

// flush waits until every established session has sent the updates made
// since shutdown began: stopping GoBGP drops what is still queued, and the
// GRACEFUL_SHUTDOWN update must reach the routers.
func (l *loop) flush() {
	if l.flushBase == nil || l.flushActs == 0 {
		return
	}
	perFamily := func(a netip.Addr) (n uint64) {
		for _, p := range l.sp.set.prefixes {
			if p.Addr().Is4() == a.Is4() {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	for {
		now, err := l.r.peers(ctx)
		if err != nil {
			return
		}
		sent := true
		for a, base := range l.flushBase {
			cur, ok := now[a]
			if !ok || base.state != "established" || cur.state != "established" {
				continue // nothing owed to a session that was or went down
			}
			if cur.txUpdates < base.txUpdates+uint64(l.flushActs)*perFamily(a) {
				sent = false
			}
		}
		if sent {
			return
		}
		select {
		case <-ctx.Done():
			l.sp.log.Warn("bgp shutdown: last updates may not have left", "waited", flushTimeout)
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// apply runs the machine to a fixed point and carries out its actions.
func (l *loop) apply(now time.Time) {
	for {
		act := l.m.step(now)
		if act == actNone {
			return
		}
		l.do(act)
	}
}

func (l *loop) do(act action) {
	// GoBGP's calls only queue work on its own goroutine; they do not wait
	// for the network.
	ctx := context.Background()
	sp, m := l.sp, l.m
	if l.flushBase != nil {
		l.flushActs++
	}
	var err error
	switch act {
	case actAnnounce:
		err = l.r.announce(ctx, false)
		sp.metrics.announces.Inc()
		sp.metrics.announced.Set(float64(len(sp.set.prefixes)))
		sp.log.Info("bgp announce", "prefixes", sp.set.prefixes, "reason", m.reason)
	case actGshut:
		err = l.r.announce(ctx, true)
		sp.log.Info("bgp graceful shutdown: announcing with 65535:0", "prefixes", sp.set.prefixes,
			"wait", sp.set.gshutWait, "reason", m.reason)
	case actWithdraw:
		err = l.r.withdraw(ctx)
		sp.metrics.withdraws.WithLabelValues(m.lastKind).Inc()
		sp.metrics.announced.Set(0)
		sp.log.Warn("bgp withdraw", "prefixes", sp.set.prefixes, "reason", m.reason)
	}
	if err != nil {
		// Only a malformed path fails here, and New has refused those.
		sp.log.Error("bgp rib update failed", "err", err)
	}
}

func (l *loop) check(res checkResult) {
	was := l.m.healthy()
	l.m.check(res)
	if l.m.healthy() != was {
		if l.m.healthy() {
			l.sp.log.Info("bgp local health up", "rise", l.m.rise)
			l.sp.metrics.healthy.Set(1)
		} else {
			l.sp.log.Warn("bgp local health down", "fall", l.m.fall, "detail", res.detail)
			l.sp.metrics.healthy.Set(0)
		}
	}
}

func (l *loop) peerEvent(ev peerEvent) {
	ns, ok := l.neighbors[ev.addr]
	if !ok || ns.state == ev.state || ev.at.Before(ns.since) {
		// The same state, or an event older than the state reconcile
		// read from GoBGP.
		return
	}
	old := ns.state
	ns.state, ns.since = ev.state, ev.at
	switch {
	case ev.state == api.PeerState_ESTABLISHED:
		ns.reason = "session established"
		ns.lastError = ""
	case ev.state == api.PeerState_IDLE && (old == api.PeerState_OPENSENT || old == api.PeerState_OPENCONFIRM):
		if l.refusedOpen(ns) {
			break
		}
		if !strings.HasPrefix(ns.reason, "notification") {
			ns.reason = "session failed during OPEN"
			ns.lastError = ns.reason
		}
	case old == api.PeerState_ESTABLISHED && ns.reason == "session established":
		ns.reason = "session lost"
		ns.lastError = ns.reason
	case strings.HasPrefix(ns.reason, "no TCP session"):
		ns.reason = "TCP session reached " + sessionState(ev.state)
	}
	ns.rxLogged = false
	l.sp.metrics.session.WithLabelValues(ev.addr.String()).Set(float64(ev.state))
	level := slog.LevelInfo
	if old == api.PeerState_ESTABLISHED {
		level = slog.LevelWarn
	}
	l.sp.log.Log(context.Background(), level, "bgp session", "neighbor", ev.addr,
		"from", sessionState(old), "to", sessionState(ev.state), "reason", ns.reason)
	if ev.state == api.PeerState_IDLE && old >= api.PeerState_OPENSENT && !l.m.stopping {
		// The session went down: the next try comes connect_retry later,
		// not after GoBGP's fixed idle hold.
		if err := l.r.idleHold(context.Background(), ev.addr); err != nil {
			l.sp.log.Warn("bgp: connect_retry not applied after the reset; GoBGP retries after 5s", "neighbor", ev.addr, "err", err)
		}
	}
}

// reconcileEvery is how often the speaker reads its sessions' states from
// GoBGP, besides at every Status.
const reconcileEvery = 2 * time.Second

// reconcile takes every session's state from GoBGP itself: a watched
// event can be missed or late, the state GoBGP reports is the truth. A
// session that dials without reaching OPEN for long gets a reason that
// says so, logged once.
func (l *loop) reconcile(ctx context.Context, now time.Time) map[netip.Addr]peerInfo {
	info, err := l.r.peers(ctx)
	if err != nil {
		return nil
	}
	for addr, ns := range l.neighbors {
		pi, ok := info[addr]
		if !ok {
			continue
		}
		if pi.raw != ns.state && pi.raw != api.PeerState_UNKNOWN {
			l.peerEvent(peerEvent{addr: addr, state: pi.raw, at: now})
		}
		l.dialHint(ns, now)
	}
	return info
}

// dialHint explains a session stuck dialling: GoBGP keeps the dial error
// to its debug log, and a wrong TCP MD5 password leaves no trace but
// connection attempts that are never answered.
func (l *loop) dialHint(ns *neighborState, now time.Time) {
	if ns.state != api.PeerState_ACTIVE && ns.state != api.PeerState_CONNECT {
		return
	}
	after := max(4*l.sp.set.connectRetry, 5*time.Second)
	if ns.n.passive || now.Sub(ns.since) < after || strings.HasPrefix(ns.reason, "no TCP session") {
		return
	}
	what := "connection attempts fail or go unanswered: check the neighbor's address and port, filters, and whether it is up" +
		" (a TCP MD5 password set on the neighbor only also drops them)"
	if ns.n.password != "" {
		what = "connection attempts fail or go unanswered: a TCP MD5 password that differs from the neighbor's (or that it lacks) drops them silently;" +
			" else check the neighbor's address and port, filters, and whether it is up"
	}
	ns.reason = fmt.Sprintf("no TCP session with %s port %d for %s: %s", ns.n.addr, ns.n.port, now.Sub(ns.since).Round(time.Second), what)
	ns.lastError = ns.reason
	l.sp.log.Warn("bgp session not coming up", "neighbor", ns.n.addr, "state", sessionState(ns.state),
		"since", ns.since.Format(time.RFC3339), "reason", ns.reason)
}

// refusedOpen reports, and says in the neighbor's reason, whether the
// neighbor sent a NOTIFICATION that GoBGP did not log: it refused the OPEN.
func (l *loop) refusedOpen(ns *neighborState) bool {
	info, err := l.r.peers(context.Background())
	pi, ok := info[ns.n.addr]
	if err != nil || !ok {
		return false
	}
	delta := pi.rxNotes - ns.rxNotes
	if pi.rxNotes < ns.rxNotes { // counters restarted
		delta = pi.rxNotes
	}
	ns.rxNotes = pi.rxNotes
	if delta == 0 || ns.rxLogged {
		return false
	}
	ns.reason = "neighbor refused the session: notification received during OPEN (GoBGP v3 does not report its code; check the neighbor's log)"
	ns.lastError = ns.reason
	l.sp.metrics.notifications.WithLabelValues(ns.n.addr.String(), "received").Add(float64(delta))
	l.sp.log.Warn("bgp notification received", "neighbor", ns.n.addr, "error", "unknown: sent during OPEN",
		"hint", "the neighbor refused the session; check its ASN, address and password settings")
	return true
}

func (l *loop) notification(n notification) {
	dir := "sent"
	if n.received {
		dir = "received"
	}
	l.sp.metrics.notifications.WithLabelValues(addrString(n.neighbor), dir).Inc()
	if ns, ok := l.neighbors[n.neighbor]; ok {
		ns.reason = n.String()
		ns.lastError = ns.reason
		if n.received {
			ns.rxLogged = true
			ns.rxNotes++ // counted by GoBGP too; keep refusedOpen's delta honest
		}
	}
}

// submit runs f on Run's goroutine and waits for it, honouring ctx.
func (sp *Speaker) submit(ctx context.Context, f func(*loop)) error {
	ran := make(chan struct{})
	select {
	case sp.reqs <- func(l *loop) { f(l); close(ran) }:
	case <-sp.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	// Run's goroutine finishes f before it reads again; waiting is short.
	<-ran
	return nil
}

// SetAccepting follows the node's "accepting new client connections"
// switch: false drains (graceful withdraw), true allows announcing again
// after the hold-down.
func (sp *Speaker) SetAccepting(ctx context.Context, accepting bool) error {
	return sp.submit(ctx, func(l *loop) { l.m.accepting = accepting })
}

// Withdraw is the operator's withdraw (`meridian ctl bgp withdraw`): a
// graceful withdraw that holds until Resume. reason is shown in Status.
func (sp *Speaker) Withdraw(ctx context.Context, reason string) error {
	if reason == "" {
		reason = "no reason given"
	}
	return sp.submit(ctx, func(l *loop) { l.m.held = reason })
}

// Resume ends an operator's Withdraw; the prefixes return after the
// hold-down.
func (sp *Speaker) Resume(ctx context.Context) error {
	return sp.submit(ctx, func(l *loop) { l.m.held = "" })
}

// SetSecondary follows the node's secondary flag: the announced paths are
// replaced at once with (or without) the prepends and MED. No withdraw
// happens, so no hold-down applies.
func (sp *Speaker) SetSecondary(ctx context.Context, secondary bool) error {
	return sp.submit(ctx, func(l *loop) {
		if l.sp.set.secondary == secondary {
			return
		}
		l.sp.set.secondary = secondary
		var err error
		switch l.m.phase {
		case PhaseAnnounced:
			err = l.r.announce(context.Background(), false)
		case PhaseGracefulShutdown:
			err = l.r.announce(context.Background(), true)
		}
		if err != nil {
			l.sp.log.Error("bgp rib update failed", "err", err)
		}
		l.sp.log.Info("bgp secondary changed", "secondary", secondary)
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
