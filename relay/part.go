package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	dirapi "github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// Part runs a node's relay as the site says; its Apply, Heartbeat and
// Check are those of the node agent's parts. Apply starts the relay on the
// node's public address, follows drain (new allocations refused with 300
// naming another healthy node, existing ones continue) in place, applies
// changed limits and peer rules to the running relay, replaces only the
// listener whose port changed, restarts the relay when its address or
// realm change, and stops it when the node leaves the site. Methods are safe for concurrent use.
type Part struct {
	base Config // wiring only: secrets, TLS files, logger, registerer

	mu  sync.Mutex
	cur *runningRelay
	// startErr is why the relay the site asks for did not start; cleared
	// when one starts or the node leaves the site.
	startErr error
	loc      cluster.Locator // for the alternates' selection engine; nil = none
}

type runningRelay struct {
	r      *Relay
	cfg    Config
	reg    *scopedRegisterer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result once done is closed
}

// NewPart returns a Part whose relays use base's Secrets, CertFile,
// KeyFile, lifetimes, Logger and Registerer. The site part of base
// (Address, Relay, Realm) is ignored.
func NewPart(base Config) (*Part, error) {
	if len(base.Secrets) == 0 {
		return nil, fmt.Errorf("%w: relay part needs the relay secret", ErrConfig)
	}
	return &Part{base: base}, nil
}

// Apply follows one snapshot.
func (p *Part) Apply(ctx context.Context, snap *cluster.Snapshot, self *cluster.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if snap == nil || self == nil {
		p.stopLocked()
		p.startErr = nil
		return
	}
	cfg := p.base
	cfg.Address = self.IPv4
	if !cfg.Address.IsValid() {
		cfg.Address = self.IPv6
	}
	cfg.Relay = self.Relay
	cfg.Realm = realm(snap.Config.Zone)
	draining := !snap.Accepting(self)

	if p.cur != nil && !sameRelay(p.cur.cfg, cfg) && p.cur.cfg.Address == cfg.Address && p.cur.cfg.Realm == cfg.Realm {
		// Limits and ports change on the running relay: live
		// allocations continue (those of a moved listener excepted).
		if err := p.cur.r.Update(cfg); err != nil {
			p.base.logger().Warn("relay: update failed; restarting", "node", self.Name, "err", err)
		} else {
			p.cur.cfg = cfg
		}
	}
	if p.cur == nil || !sameRelay(p.cur.cfg, cfg) {
		p.stopLocked()
		if err := p.startLocked(ctx, cfg); err != nil {
			p.base.logger().Error("relay: not started", "node", self.Name, "err", err)
			p.startErr = fmt.Errorf("relay not started: %w", err)
			return
		}
		p.startErr = nil
	}
	// While draining, every snapshot renews the alternates: they follow
	// the other nodes' health.
	if draining {
		p.cur.r.SetDrainingBy(true, alternates(snap, self.Name, p.loc))
	} else if p.cur.r.Draining() {
		p.cur.r.SetDrainingBy(false, nil)
	}
}

// SetLocator gives the selection engine that picks a drained relay's
// alternates a GeoIP Locator (geo and timezone methods); without one they
// fall back to weighted choice, as the engine does. It takes effect with
// the next snapshot.
func (p *Part) SetLocator(loc cluster.Locator) {
	p.mu.Lock()
	p.loc = loc
	p.mu.Unlock()
}

func (p *Part) startLocked(ctx context.Context, cfg Config) error {
	// Each relay instance registers its metrics afresh; the scoped
	// registerer takes them out again when the instance stops, so a
	// restart does not collide with its predecessor's collectors.
	var reg *scopedRegisterer
	if cfg.Registerer != nil {
		reg = &scopedRegisterer{reg: cfg.Registerer}
		cfg.Registerer = reg
	}
	r, err := New(cfg)
	if err != nil {
		reg.release()
		return err
	}
	// The relay lives as long as the agent's context, not this call.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cur := &runningRelay{r: r, cfg: cfg, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(cur.done)
		cur.err = r.Run(rctx)
		if cur.err != nil && !errors.Is(cur.err, ErrClosed) {
			cfg.logger().Error("relay stopped", "err", cur.err)
		}
	}()
	p.cur = cur
	return nil
}

func (p *Part) stopLocked() {
	if p.cur == nil {
		return
	}
	p.cur.cancel()
	p.cur.r.Close()
	<-p.cur.done
	p.cur.reg.release()
	p.cur = nil
}

// Close stops the relay and waits for it.
func (p *Part) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

// Relay is the running relay, nil when none runs.
func (p *Part) Relay() *Relay {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	return p.cur.r
}

// Heartbeat fills the relay's accounting.
func (p *Part) Heartbeat(hb *dirapi.Heartbeat) {
	if r := p.Relay(); r != nil {
		r.Stats().FillHeartbeat(hb)
	}
}

// FillHeartbeat puts the accounting into a node heartbeat: the summary, the
// connected clients, and the live allocations summed per user (sorted by
// user) for the director's connected-clients report.
func (s Stats) FillHeartbeat(hb *dirapi.Heartbeat) {
	hb.Clients = s.Allocations
	hb.Relay = &dirapi.RelayStats{
		Allocations: s.Allocations,
		BytesIn:     s.ToPeerBytes,
		BytesOut:    s.ToClientBytes,
		Refused:     s.Refused,
	}
	hb.RelayUsers = nil
	at := map[string]int{}
	for _, a := range s.Live {
		i, ok := at[a.User]
		if !ok {
			i = len(hb.RelayUsers)
			at[a.User] = i
			hb.RelayUsers = append(hb.RelayUsers, dirapi.RelayUser{User: a.User, Since: a.Start})
		}
		u := &hb.RelayUsers[i]
		u.Allocations++
		if a.Start.Before(u.Since) {
			u.Since = a.Start
		}
		u.ToPeerBytes += a.ToPeerBytes
		u.ToPeerPackets += a.ToPeerPackets
		u.ToClientBytes += a.ToClientBytes
		u.ToClientPackets += a.ToClientPackets
	}
	slices.SortFunc(hb.RelayUsers, func(a, b dirapi.RelayUser) int { return strings.Compare(a.User, b.User) })
}

// Check fails when the node should run a relay and it does not serve:
// it failed to start, it stopped, or one of its listeners (UDP, TCP, TLS)
// stopped serving; the error names the listener. The node's health
// endpoint reports it, so the director stops sending clients here.
func (p *Part) Check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return p.startErr // nil with no site yet, or the node removed: nothing to serve
	}
	select {
	case <-p.cur.done:
		return fmt.Errorf("relay stopped: %v", p.cur.err)
	default:
	}
	return p.cur.r.Serving()
}

// Probe allocates on the running relay over UDP, end to end: the BGP
// speaker's local health check.
func (p *Part) Probe(ctx context.Context) error {
	p.mu.Lock()
	cur := p.cur
	p.mu.Unlock()
	if cur == nil {
		return fmt.Errorf("%w: no relay running", ErrProbe)
	}
	return Probe(ctx, cur.r.UDPAddr().String(), cur.cfg.Secrets[0], ProbeOptions{Draining: cur.r.Draining()})
}

// sameRelay reports whether b can run on a's relay without a restart.
func sameRelay(a, b Config) bool {
	return a.Address == b.Address && a.Realm == b.Realm && reflect.DeepEqual(a.Relay, b.Relay)
}

// alternates asks the site's selection engine, as DNS would answer it,
// where each client of a drained relay should go instead: the engine runs
// on snap with the node self counted as drained, so it is never chosen.
// The answer is the chosen node's address in the client's family and its
// relay port for the client's transport (UDP, TCP or TLS); for the anycast
// method, the site's anycast address and relay ports. None when the engine
// has no candidate with such an address.
func alternates(snap *cluster.Snapshot, self string, loc cluster.Locator) AlternateFunc {
	s := *snap
	s.Nodes = make([]cluster.NodeState, 0, len(snap.Nodes)+1)
	found := false
	for _, st := range snap.Nodes {
		if st.Name == self {
			st.Drained, found = true, true
		}
		s.Nodes = append(s.Nodes, st)
	}
	if !found {
		s.Nodes = append(s.Nodes, cluster.NodeState{Name: self, Health: cluster.Unknown, Drained: true})
	}
	eng := cluster.NewEngine(&s, loc)
	return func(client netip.Addr, t Transport) (netip.AddrPort, bool) {
		client = client.Unmap()
		var d cluster.Decision
		eng.Select(cluster.Query{Client: client, SourceBits: client.BitLen(), Now: time.Now()}, &d)
		if d.Anycast {
			v4, v6 := eng.Anycast()
			a := v4
			if client.Is6() {
				a = v6
			}
			if !a.IsValid() {
				return netip.AddrPort{}, false
			}
			return netip.AddrPortFrom(a, relayPort(s.Config.Relay, t)), true
		}
		for _, n := range d.Chosen() {
			a := n.IPv4
			if client.Is6() {
				a = n.IPv6
			}
			if n.Name != self && a.IsValid() {
				return netip.AddrPortFrom(a, relayPort(n.Relay, t)), true
			}
		}
		return netip.AddrPort{}, false
	}
}

// relayPort is rc's listener port for transport t.
func relayPort(rc cluster.Relay, t Transport) uint16 {
	switch t {
	case TransportTCP:
		return uint16(rc.TCPPort)
	case TransportTLS:
		return uint16(rc.TLSPort)
	}
	return uint16(rc.UDPPort)
}

// realm is the zone without its trailing dot, as TURN clients write it.
func realm(zone string) string {
	if n := len(zone); n > 1 && zone[n-1] == '.' {
		return zone[:n-1]
	}
	return zone
}

// scopedRegisterer registers collectors in reg and can take them all out
// again.
type scopedRegisterer struct {
	reg prometheus.Registerer
	mu  sync.Mutex
	cs  []prometheus.Collector
}

func (s *scopedRegisterer) Register(c prometheus.Collector) error {
	if err := s.reg.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	s.cs = append(s.cs, c)
	s.mu.Unlock()
	return nil
}

func (s *scopedRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic("relay metrics: " + err.Error())
		}
	}
}

func (s *scopedRegisterer) Unregister(c prometheus.Collector) bool { return s.reg.Unregister(c) }

// release unregisters every collector; nil-safe.
func (s *scopedRegisterer) release() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cs {
		s.reg.Unregister(c)
	}
	s.cs = nil
}

// logger is c's logger or a discarding one.
func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return discardLogger()
	}
	return c.Logger
}
