package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// Relay is one node's TURN relay.
type Relay struct {
	cfg  Config // as New got it; see conf for the settings Update changes
	log  *slog.Logger
	auth *authenticator

	// The settings Update changes on a running relay: limits and peer
	// rules (replaced whole, read without a lock), and the listeners.
	settings atomic.Pointer[Config]
	filter   atomic.Pointer[peerFilter]
	node     atomic.Pointer[bucket] // node-wide bandwidth cap, nil when uncapped

	// lmu guards the listeners and their TURN servers; updateMu
	// serializes Update.
	lmu       sync.Mutex
	updateMu  sync.Mutex
	udp       []*udpListener
	udpEng    engine
	listeners []*tcpListener // TCP, then TLS; each runs its own engine
	serving   bool           // the engines run: listeners bound later start theirs at once

	// clock is a coarse unix-nanosecond clock for channel expiry on the
	// hot paths, advanced by Run.
	clock atomic.Int64
	// gen changes whenever a relayed address goes away, invalidating the
	// relayed conns' cached send checks.
	gen atomic.Uint64

	draining atomic.Pointer[drainState]

	// mu guards the allocation registry.
	mu      sync.Mutex
	conns   map[netip.AddrPort]*relayConn // by advertised and bound relayed address
	perUser map[string]int
	live    map[uint64]*relayConn
	nextID  uint64
	ended   totals // accounting of closed allocations

	refusals   [len(refusalReasons)]atomic.Uint64
	refusalLog refusalLog
	allocs     atomic.Uint64 // allocations ever made

	// Abuse limits (see abuse.go), fixed before Run.
	authTimeout       time.Duration // TCP and TLS connections without an allocation
	writeTimeout      time.Duration // one write to a TCP or TLS client
	maxConnsPerSource int           // TCP and TLS connections per client address; 0 = no limit
	sources           sourceCounts
	udpInvalid        invalidCounts // garbage and oversize datagrams dropped

	runOnce   sync.Once
	closeOnce sync.Once
	closed    chan struct{}
	stopping  atomic.Bool   // set when shutdown starts: listener errors from then on are expected
	done      chan struct{} // closed when Run's goroutines have stopped
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
	r := newRelay(cfg)
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

// newRelay is a relay for cfg (with defaults) without listeners.
func newRelay(cfg Config) *Relay {
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	r := &Relay{
		cfg:     cfg,
		log:     cfg.Logger,
		auth:    newAuthenticator(cfg.Secrets, cfg.Realm, cfg.Now, cfg.MaxCredentialTTL),
		conns:   map[netip.AddrPort]*relayConn{},
		perUser: map[string]int{},
		live:    map[uint64]*relayConn{},
		closed:  make(chan struct{}),
		done:    make(chan struct{}),

		authTimeout:       AuthTimeout,
		writeTimeout:      defaultTCPWriteTimeout,
		maxConnsPerSource: MaxConnsPerSource,
	}
	r.refusalLog.log = cfg.Logger
	r.clock.Store(time.Now().UnixNano())
	r.settings.Store(&cfg)
	r.node.Store(newBucket(cfg.Relay.NodeBPS, time.Now()))
	r.filter.Store(newPeerFilter(cfg.Relay.AllowPeers, ownAddrs(cfg.Address, cfg.ListenAddress)))
	return r
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
	if rc.UDPPort != -1 {
		us, err := r.bindUDP(rc.UDPPort)
		if err != nil {
			return err
		}
		r.udp = us
	}
	if rc.TCPPort != -1 {
		l, err := r.bindTCP(rc.TCPPort)
		if err != nil {
			return err
		}
		r.listeners = append(r.listeners, l)
	}
	if r.cfg.CertFile != "" && rc.TLSPort != -1 {
		l, err := r.bindTLS(rc.TLSPort)
		if err != nil {
			return err
		}
		r.listeners = append(r.listeners, l)
	}
	return nil
}

// bindUDP binds the UDP listener's sockets on port.
func (r *Relay) bindUDP(port int) ([]*udpListener, error) {
	network := "udp4"
	if r.cfg.ListenAddress.Is6() {
		network = "udp6"
	}
	addr := net.JoinHostPort(r.cfg.ListenAddress.String(), strconv.Itoa(port))
	n := r.cfg.UDPSockets
	if !reusePort {
		n = 1
	}
	var us []*udpListener
	for range n {
		pc, err := listenUDP(network, addr, n > 1)
		if err != nil {
			for _, u := range us {
				_ = u.conn.Close()
			}
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		if port == 0 {
			// Later sockets share the port the first one got.
			addr = pc.LocalAddr().String()
		}
		u := newUDPListener(r, pc)
		u.state = newServeState(TransportUDP, pc.LocalAddr(), len(us), n)
		us = append(us, u)
	}
	return us, nil
}

func (r *Relay) tcpNetwork() string {
	if r.cfg.ListenAddress.Is6() {
		return "tcp6"
	}
	return "tcp4"
}

// bindTCP binds the TCP listener on port.
func (r *Relay) bindTCP(port int) (*tcpListener, error) {
	addr := net.JoinHostPort(r.cfg.ListenAddress.String(), strconv.Itoa(port))
	l, err := net.Listen(r.tcpNetwork(), addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	return newTCPListener(r, l), nil
}

// bindTLS binds the TLS listener on port.
func (r *Relay) bindTLS(port int) (*tcpListener, error) {
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: load TLS key pair: %w", ErrConfig, err)
	}
	addr := net.JoinHostPort(r.cfg.ListenAddress.String(), strconv.Itoa(port))
	l, err := net.Listen(r.tcpNetwork(), addr)
	if err != nil {
		return nil, fmt.Errorf("listen tls %s: %w", addr, err)
	}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	t := newTCPListener(r, tl)
	t.state = newServeState(TransportTLS, tl.Addr(), 0, 1)
	return t, nil
}

// UDPAddr returns the UDP listener's address, or nil when disabled.
func (r *Relay) UDPAddr() net.Addr {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	if len(r.udp) == 0 {
		return nil
	}
	return r.udp[0].conn.LocalAddr()
}

// TCPAddr returns the TCP listener's address, or nil when disabled.
func (r *Relay) TCPAddr() net.Addr { return r.streamAddr(TransportTCP) }

// TLSAddr returns the TLS listener's address, or nil when disabled.
func (r *Relay) TLSAddr() net.Addr { return r.streamAddr(TransportTLS) }

func (r *Relay) streamAddr(t Transport) net.Addr {
	for _, l := range r.tcpListeners() {
		if l.state.transport == t {
			return l.Addr()
		}
	}
	return nil
}

// tcpListeners lists the TCP and TLS listeners now.
func (r *Relay) tcpListeners() []*tcpListener {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	return slices.Clone(r.listeners)
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
	if err := r.startEngines(); err != nil {
		r.Close()
		return fmt.Errorf("start turn server: %w", err)
	}
	r.log.Info("relay serving", "address", r.cfg.Address, "udp", r.cfg.Relay.UDPPort, "tcp", r.cfg.Relay.TCPPort, "realm", r.cfg.Realm)

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	summary := time.NewTicker(refusalLogEvery)
	defer summary.Stop()
	for {
		select {
		case <-summary.C:
			r.refusalLog.flush(refusalLogEvery)
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
	r.lmu.Lock()
	engs := []engine{r.udpEng}
	r.udpEng = nil
	for _, l := range r.listeners {
		engs = append(engs, l.eng)
		l.eng = nil
	}
	r.serving = false
	r.lmu.Unlock()
	for _, eng := range engs {
		if eng != nil {
			_ = eng.Close()
		}
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
	r.refusalLog.flush(refusalLogEvery)
	r.log.Info("relay stopped")
}

func (r *Relay) closeSockets() {
	r.lmu.Lock()
	us, ls := r.udp, r.listeners
	r.lmu.Unlock()
	for _, u := range us {
		_ = u.conn.Close()
	}
	for _, l := range ls {
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
	cb, nb := c.bucket.Load(), r.node.Load()
	if cb == nil && nb == nil {
		return true
	}
	now := time.Now()
	if !cb.take(n, now) {
		return false
	}
	return internal || nb.take(n, now)
}

// quotaReason reports which allocation quota user is at, or "".
func (r *Relay) quotaReason(user string) string {
	q := r.conf().Relay
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
