package relay

// This file is the only one that imports the pion/turn server: the rest of
// the package sees it through engine and the hooks below.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

// engine is the TURN server under the relay.
type engine interface {
	Close() error
}

// startEngines starts a TURN server on each listener: one for the UDP
// sockets, one per TCP or TLS listener, so one listener can be replaced
// without disturbing the allocations of the others.
func (r *Relay) startEngines() error {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	if len(r.udp) > 0 {
		eng, err := r.startEngine(r.udp, nil)
		if err != nil {
			return err
		}
		r.udpEng = eng
	}
	for _, l := range r.listeners {
		eng, err := r.startEngine(nil, l)
		if err != nil {
			return err
		}
		l.eng = eng
	}
	r.serving = true
	return nil
}

// startEngine starts pion on the given wrapped sockets: the UDP ones or
// one TCP or TLS listener.
func (r *Relay) startEngine(udp []*udpListener, l *tcpListener) (engine, error) {
	perm := func(client net.Addr, peer net.IP) bool {
		ip, ok := netip.AddrFromSlice(peer)
		if ok && r.filter.Load().permitIP(ip) {
			return true
		}
		r.refused(ReasonPeer, "turn permission refused", "client", client.String(), "peer", peer.String())
		return false
	}
	cfg := turn.ServerConfig{
		Realm:              r.cfg.Realm,
		AuthHandler:        r.authHandler,
		ChannelBindTimeout: channelBindLifetime,
		InboundMTU:         maxRelayPacket,
		LoggerFactory:      pionLogs{log: r.log},
	}
	for _, u := range udp {
		cfg.PacketConnConfigs = append(cfg.PacketConnConfigs, turn.PacketConnConfig{
			PacketConn:            u,
			RelayAddressGenerator: generator{&u.alloc},
			PermissionHandler:     perm,
		})
	}
	if l != nil {
		cfg.ListenerConfigs = append(cfg.ListenerConfigs, turn.ListenerConfig{
			Listener:              l,
			RelayAddressGenerator: generator{&l.alloc},
			PermissionHandler:     perm,
		})
	}
	s, err := turn.NewServer(cfg)
	if err != nil {
		return nil, fmt.Errorf("pion turn server: %w", err)
	}
	return s, nil
}

// authHandler is pion's credential hook: it refuses malformed, expired
// and far-future usernames and returns the key the MESSAGE-INTEGRITY is
// checked against.
func (r *Relay) authHandler(username, _ string, src net.Addr) ([]byte, bool) {
	_, user, reason := r.auth.check(username)
	if reason != "" {
		r.refused(reason, "turn request refused", "client", src.String(), "user", user)
		return nil, false
	}
	return r.auth.currentKey(username), true
}

// generator adapts an allocator to pion's RelayAddressGenerator.
type generator struct{ a *allocator }

func (generator) Validate() error { return nil }

func (g generator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	return g.a.allocatePacketConn(network, requestedPort)
}

// AllocateConn would serve RFC 6062 TCP relaying, which pion v2 does not
// implement either.
func (generator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, fmt.Errorf("tcp relaying: %w", ErrNoPort)
}

// pionLogs sends pion's logs to the relay's logger at debug level: pion
// logs every refused request as an error, which is normal operation for
// a relay on the Internet.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope), on: f.log.Enabled(context.Background(), slog.LevelDebug)}
}

type pionLogger struct {
	log *slog.Logger
	on  bool
}

func (l pionLogger) logf(format string, args ...any) {
	if l.on {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(string)                   {}
func (l pionLogger) Tracef(string, ...any)          {}
func (l pionLogger) Debug(msg string)               { l.logf("%s", msg) }
func (l pionLogger) Debugf(format string, a ...any) { l.logf(format, a...) }
func (l pionLogger) Info(msg string)                { l.logf("%s", msg) }
func (l pionLogger) Infof(format string, a ...any)  { l.logf(format, a...) }
func (l pionLogger) Warn(msg string)                { l.logf("%s", msg) }
func (l pionLogger) Warnf(format string, a ...any)  { l.logf(format, a...) }
func (l pionLogger) Error(msg string)               { l.logf("%s", msg) }
func (l pionLogger) Errorf(format string, a ...any) { l.logf(format, a...) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
