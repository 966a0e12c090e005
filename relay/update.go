package relay

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"
)

// ErrRestart is returned by Update for a change a running relay cannot
// take: its address, listen address, realm, secrets, TLS files or UDP
// socket count. The relay keeps its settings; stop it and start another.
var ErrRestart = errors.New("relay needs a restart for this change")

// conf is the relay's configuration now: New's, with Update's limits and
// listener ports.
func (r *Relay) conf() *Config { return r.settings.Load() }

// Update applies cfg to the running relay (or one not yet running)
// without disturbing its allocations: quotas, bandwidth caps (live
// allocations included), the relay port range, lifetime bounds and
// AllowPeers take effect at once. A changed listener port replaces that
// listener alone: its connections and allocations end, those of the other
// listeners continue. On an error the limits may be applied and some
// listeners replaced; the relay serves on whatever listeners remain.
func (r *Relay) Update(cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	old := r.conf()
	if cfg.Address != old.Address || cfg.ListenAddress != old.ListenAddress || cfg.Realm != old.Realm ||
		!reflect.DeepEqual(cfg.Secrets, old.Secrets) || cfg.CertFile != old.CertFile || cfg.KeyFile != old.KeyFile ||
		cfg.UDPSockets != old.UDPSockets || cfg.MaxCredentialTTL != old.MaxCredentialTTL {
		return ErrRestart
	}
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	old = r.conf()
	// Wiring that is not the site's stays New's.
	next := *old
	next.Relay, next.MinLifetime, next.MaxLifetime = cfg.Relay, cfg.MinLifetime, cfg.MaxLifetime
	// Ports stay the old ones until their listener is replaced.
	next.Relay.UDPPort, next.Relay.TCPPort, next.Relay.TLSPort = old.Relay.UDPPort, old.Relay.TCPPort, old.Relay.TLSPort
	r.applyLimits(old, &next)

	var errs []error
	if cfg.Relay.UDPPort != old.Relay.UDPPort {
		if err := r.replaceUDP(cfg.Relay.UDPPort); err != nil {
			errs = append(errs, err)
		} else {
			next.Relay.UDPPort = cfg.Relay.UDPPort
		}
	}
	for _, t := range []struct {
		transport Transport
		want, had int
		port      *int
	}{
		{TransportTCP, cfg.Relay.TCPPort, old.Relay.TCPPort, &next.Relay.TCPPort},
		{TransportTLS, cfg.Relay.TLSPort, old.Relay.TLSPort, &next.Relay.TLSPort},
	} {
		if t.want == t.had || t.transport == TransportTLS && r.cfg.CertFile == "" {
			*t.port = t.want
			continue
		}
		if err := r.replaceStream(t.transport, t.want); err != nil {
			errs = append(errs, err)
		} else {
			*t.port = t.want
		}
	}
	final := next
	r.settings.Store(&final)
	if len(errs) == 0 {
		r.log.Info("relay settings updated", "udp", next.Relay.UDPPort, "tcp", next.Relay.TCPPort, "tls", next.Relay.TLSPort)
	}
	return errors.Join(errs...)
}

// applyLimits installs next's limits: the settings the hot paths read,
// the peer filter and the bandwidth buckets.
func (r *Relay) applyLimits(old, next *Config) {
	cur := *next
	r.settings.Store(&cur)
	if !slices.Equal(old.Relay.AllowPeers, next.Relay.AllowPeers) {
		r.filter.Store(newPeerFilter(next.Relay.AllowPeers, ownAddrs(r.cfg.Address, r.cfg.ListenAddress)))
		r.gen.Add(1) // the relayed conns' cached send checks
	}
	now := time.Now()
	if old.Relay.NodeBPS != next.Relay.NodeBPS {
		r.node.Store(newBucket(next.Relay.NodeBPS, now))
	}
	if old.Relay.AllocationBPS != next.Relay.AllocationBPS {
		r.mu.Lock()
		for _, c := range r.live {
			c.bucket.Store(newBucket(next.Relay.AllocationBPS, now))
		}
		r.mu.Unlock()
	}
}

// replaceUDP moves the UDP listener to port (-1: none). The new sockets
// are bound before the old ones close, so a failure leaves the old ones.
func (r *Relay) replaceUDP(port int) error {
	var us []*udpListener
	if port != -1 {
		var err error
		if us, err = r.bindUDP(port); err != nil {
			return err
		}
	}
	r.lmu.Lock()
	var eng engine
	if r.serving && len(us) > 0 {
		var err error
		if eng, err = r.startEngine(us, nil); err != nil {
			r.lmu.Unlock()
			for _, u := range us {
				_ = u.conn.Close()
			}
			return fmt.Errorf("start turn server: %w", err)
		}
	}
	oldUs, oldEng := r.udp, r.udpEng
	r.udp, r.udpEng = us, eng
	r.lmu.Unlock()

	for _, u := range oldUs {
		u.state.retire()
	}
	if oldEng != nil {
		_ = oldEng.Close()
	}
	for _, u := range oldUs {
		_ = u.conn.Close()
	}
	r.closeAllocationsOf(func(link clientLink) bool {
		u, ok := link.(*udpListener)
		return ok && slices.Contains(oldUs, u)
	})
	r.log.Info("relay listener replaced", "listener", "udp", "port", port)
	return nil
}

// replaceStream moves the TCP or TLS listener to port (-1: none).
func (r *Relay) replaceStream(t Transport, port int) error {
	var nl *tcpListener
	if port != -1 {
		var err error
		if t == TransportTLS {
			nl, err = r.bindTLS(port)
		} else {
			nl, err = r.bindTCP(port)
		}
		if err != nil {
			return err
		}
	}
	r.lmu.Lock()
	if r.serving && nl != nil {
		eng, err := r.startEngine(nil, nl)
		if err != nil {
			r.lmu.Unlock()
			nl.closeAll()
			return fmt.Errorf("start turn server: %w", err)
		}
		nl.eng = eng
	}
	var old *tcpListener
	ls := make([]*tcpListener, 0, len(r.listeners)+1)
	for _, l := range r.listeners {
		if l.state.transport == t {
			old = l
			continue
		}
		ls = append(ls, l)
	}
	if nl != nil {
		ls = append(ls, nl)
	}
	// TCP first, as bind orders them.
	slices.SortStableFunc(ls, func(a, b *tcpListener) int {
		if a.state.transport == b.state.transport {
			return 0
		}
		if a.state.transport == TransportTCP {
			return -1
		}
		return 1
	})
	r.listeners = ls
	var oldEng engine
	if old != nil {
		oldEng, old.eng = old.eng, nil
	}
	r.lmu.Unlock()

	if old != nil {
		old.state.retire()
		if oldEng != nil {
			_ = oldEng.Close()
		}
		old.closeAll()
	}
	r.log.Info("relay listener replaced", "listener", string(t), "port", port)
	return nil
}

// closeAllocationsOf ends the live allocations whose client link matches.
func (r *Relay) closeAllocationsOf(match func(clientLink) bool) {
	r.mu.Lock()
	var cs []*relayConn
	for _, c := range r.live {
		if match(c.link) {
			cs = append(cs, c)
		}
	}
	r.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}
