package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// Relay is one node's TURN relay.
type Relay struct {
	cfg    Config
	log    *slog.Logger
	auth   *authenticator
	filter *peerFilter
	node   *bucket // node-wide bandwidth cap, nil when uncapped

	udp       []*udpListener
	listeners []*tcpListener

	// clock is a coarse unix-nanosecond clock for channel expiry on the
	// hot paths, advanced by Run.
	clock atomic.Int64
	// gen changes whenever a relayed address goes away, invalidating the
	// relayed conns' cached send checks.
	gen atomic.Uint64

	draining atomic.Pointer[drainState]

	mu      sync.Mutex
	conns   map[netip.AddrPort]*relayConn // by advertised and bound relayed address
	perUser map[string]int
	live    map[uint64]*relayConn
	nextID  uint64
	ended   totals // accounting of closed allocations

	refusals [len(refusalReasons)]atomic.Uint64
	allocs   atomic.Uint64 // allocations ever made

	runOnce   sync.Once
	closeOnce sync.Once
	closed    chan struct{}
	stopping  atomic.Bool   // set when shutdown starts: listener errors from then on are expected
	done      chan struct{} // closed when Run's goroutines have stopped
	engine    engine
}

type totals struct {
	toPeerBytes, toPeerPackets, toClientBytes, toClientPackets, dropped uint64
}

type drainState struct {
	alternate netip.AddrPort // invalid when none
	choose    AlternateFunc  // when set, names the alternate per client instead
}

// AlternateFunc names the server a draining relay sends one client to in
// its 300 Try Alternate, for the transport the client came over; false
// when there is none (the client gets 508 Insufficient Capacity).
type AlternateFunc func(client netip.Addr, t Transport) (netip.AddrPort, bool)

// alternateFor is the alternate server of client, invalid when none.
func (st *drainState) alternateFor(client netip.Addr, t Transport) netip.AddrPort {
	if st.choose == nil {
		return st.alternate
	}
	ap, ok := st.choose(client.Unmap(), t)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// New validates cfg and binds the relay's listeners. Nothing is served
// until Run.
func New(cfg Config) (*Relay, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:     cfg,
		log:     cfg.Logger,
		auth:    newAuthenticator(cfg.Secrets, cfg.Realm, cfg.Now, cfg.MaxCredentialTTL),
		node:    newBucket(cfg.Relay.NodeBPS, time.Now()),
		conns:   map[netip.AddrPort]*relayConn{},
		perUser: map[string]int{},
		live:    map[uint64]*relayConn{},
		closed:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.clock.Store(time.Now().UnixNano())
	r.filter = newPeerFilter(cfg.Relay.AllowPeers, ownAddrs(cfg.Address, cfg.ListenAddress))
	if err := r.bind(); err != nil {
		r.closeSockets()
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&collector{r: r}); err != nil {
			r.closeSockets()
			return nil, fmt.Errorf("register relay metrics: %w", err)
		}
	}
	return r, nil
}

// ownAddrs are the node addresses the send-time filter guards: the
// configured ones, and every interface address when the relay listens on
// the unspecified address.
func ownAddrs(public, listen netip.Addr) []netip.Addr {
	own := []netip.Addr{public, listen}
	if listen.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					own = append(own, p.Addr())
				}
			}
		}
	}
	return own
}

func (r *Relay) bind() error {
	rc := r.cfg.Relay
	host := r.cfg.ListenAddress.String()
	network := "udp4"
	if r.cfg.ListenAddress.Is6() {
		network = "udp6"
	}
	if rc.UDPPort != -1 {
		addr := net.JoinHostPort(host, strconv.Itoa(rc.UDPPort))
		n := r.cfg.UDPSockets
		if !reusePort {
			n = 1
		}
		for range n {
			pc, err := listenUDP(network, addr, n > 1)
			if err != nil {
				return fmt.Errorf("listen udp %s: %w", addr, err)
			}
			u := newUDPListener(r, pc)
			u.state = newServeState(TransportUDP, pc.LocalAddr(), len(r.udp), n)
			r.udp = append(r.udp, u)
		}
	}
	tcpNet := "tcp4"
	if r.cfg.ListenAddress.Is6() {
		tcpNet = "tcp6"
	}
	if rc.TCPPort != -1 {
		addr := net.JoinHostPort(host, strconv.Itoa(rc.TCPPort))
		l, err := net.Listen(tcpNet, addr)
		if err != nil {
			return fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		r.listeners = append(r.listeners, newTCPListener(r, l))
	}
	if r.cfg.CertFile != "" && rc.TLSPort != -1 {
		cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("%w: load TLS key pair: %w", ErrConfig, err)
		}
		addr := net.JoinHostPort(host, strconv.Itoa(rc.TLSPort))
		l, err := net.Listen(tcpNet, addr)
		if err != nil {
			return fmt.Errorf("listen tls %s: %w", addr, err)
		}
		tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		t := newTCPListener(r, tl)
		t.state = newServeState(TransportTLS, tl.Addr(), 0, 1)
		r.listeners = append(r.listeners, t)
	}
	return nil
}

// UDPAddr returns the UDP listener's address, or nil when disabled.
func (r *Relay) UDPAddr() net.Addr {
	if len(r.udp) == 0 {
		return nil
	}
	return r.udp[0].conn.LocalAddr()
}

// TCPAddr returns the TCP listener's address, or nil when disabled.
func (r *Relay) TCPAddr() net.Addr {
	if r.cfg.Relay.TCPPort == -1 || len(r.listeners) == 0 {
		return nil
	}
	return r.listeners[0].Addr()
}

// Run serves until ctx ends or Close is called, then shuts the relay down
// and returns. It may be called once.
func (r *Relay) Run(ctx context.Context) error {
	err := ErrClosed
	r.runOnce.Do(func() { err = r.run(ctx) })
	return err
}

func (r *Relay) run(ctx context.Context) error {
	defer close(r.done)
	select {
	case <-r.closed:
		return ErrClosed
	default:
	}
	eng, err := startEngine(r)
	if err != nil {
		r.Close()
		return fmt.Errorf("start turn server: %w", err)
	}
	r.mu.Lock()
	r.engine = eng
	r.mu.Unlock()
	r.log.Info("relay serving", "address", r.cfg.Address, "udp", r.cfg.Relay.UDPPort, "tcp", r.cfg.Relay.TCPPort, "realm", r.cfg.Realm)

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case <-r.closed:
			r.shutdown()
			return nil
		case now := <-tick.C:
			r.clock.Store(now.UnixNano())
		case <-sweep.C:
			r.auth.sweep()
		}
	}
}

// Close stops the relay: listeners, connections and allocations. It is
// safe to call more than once and from any goroutine.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	select {
	case <-r.done:
	default:
		// Run never started or is still starting; close what New opened.
		r.runOnce.Do(func() { close(r.done) })
		r.shutdown()
	}
	<-r.done
	return nil
}

func (r *Relay) shutdown() {
	r.stopping.Store(true)
	r.mu.Lock()
	eng := r.engine
	r.engine = nil
	r.mu.Unlock()
	if eng != nil {
		_ = eng.Close()
	}
	r.closeSockets()
	r.mu.Lock()
	live := make([]*relayConn, 0, len(r.live))
	for _, c := range r.live {
		live = append(live, c)
	}
	r.mu.Unlock()
	for _, c := range live {
		_ = c.Close()
	}
	r.log.Info("relay stopped")
}

func (r *Relay) closeSockets() {
	for _, u := range r.udp {
		_ = u.conn.Close()
	}
	for _, l := range r.listeners {
		l.closeAll()
	}
}

// SetDraining switches drain mode. While draining, new allocations are
// refused with 300 Try Alternate naming alternate ("IP" or "IP:port",
// port default 3478) when given, else with 508 Insufficient Capacity;
// existing allocations continue until they end.
func (r *Relay) SetDraining(draining bool, alternate string) error {
	if !draining {
		r.draining.Store(nil)
		r.log.Info("relay accepting new allocations")
		return nil
	}
	st := &drainState{}
	if alternate != "" {
		ap, err := netip.ParseAddrPort(alternate)
		if err != nil {
			ip, err2 := netip.ParseAddr(alternate)
			if err2 != nil {
				return fmt.Errorf("alternate server %q: want IP or IP:port: %w", alternate, err)
			}
			ap = netip.AddrPortFrom(ip, cluster.DefaultTURNPort)
		}
		st.alternate = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	r.draining.Store(st)
	r.log.Info("relay draining", "alternate", alternate)
	return nil
}

// SetDrainingBy is SetDraining with the alternate chosen for each refused
// client by choose (nil: none, 508). Called again while draining, it only
// replaces the choice.
func (r *Relay) SetDrainingBy(draining bool, choose AlternateFunc) {
	if !draining {
		if r.draining.Swap(nil) != nil {
			r.log.Info("relay accepting new allocations")
		}
		return
	}
	if r.draining.Swap(&drainState{choose: choose}) == nil {
		r.log.Info("relay draining", "alternate", "chosen per client")
	}
}

// Draining reports whether the relay refuses new allocations.
func (r *Relay) Draining() bool { return r.draining.Load() != nil }

// refuse counts one refusal.
func (r *Relay) refuse(reason string) {
	for i, s := range refusalReasons {
		if s == reason {
			r.refusals[i].Add(1)
			return
		}
	}
}

// allowBytes applies the allocation's and the node's bandwidth caps.
// Traffic between two allocations of this relay crosses the node once,
// so its receiving side (internal) is not charged to the node again.
func (r *Relay) allowBytes(c *relayConn, n int, internal bool) bool {
	if c.bucket == nil && r.node == nil {
		return true
	}
	now := time.Now()
	if !c.bucket.take(n, now) {
		return false
	}
	return internal || r.node.take(n, now)
}

// quotaReason reports which allocation quota user is at, or "".
func (r *Relay) quotaReason(user string) string {
	q := r.cfg.Relay
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case q.MaxAllocations > 0 && len(r.live) >= q.MaxAllocations:
		return ReasonNodeQuota
	case q.MaxAllocationsPerUser > 0 && r.perUser[user] >= q.MaxAllocationsPerUser:
		return ReasonUserQuota
	}
	return ""
}

// isRelayed reports whether ap is a live relayed address of this relay.
func (r *Relay) isRelayed(ap netip.AddrPort) bool {
	r.mu.Lock()
	_, ok := r.conns[ap]
	r.mu.Unlock()
	return ok
}
