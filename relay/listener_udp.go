package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun"
)

// udpListener wraps one UDP listener socket for pion. One pion goroutine
// reads it; responses and Data indications are written from that and
// from the allocations' goroutines.
type udpListener struct {
	r     *Relay
	conn  *net.UDPConn
	gate  allocGate
	alloc allocator
	held  bool // gate held for the request last returned; reader only
	state serveState

	mu      sync.RWMutex
	clients map[netip.AddrPort]*relayConn

	bindMu  sync.Mutex
	pending *pendingBind
}

var (
	_ net.PacketConn = (*udpListener)(nil)
	_ clientLink     = (*udpListener)(nil)
)

func newUDPListener(r *Relay, conn *net.UDPConn) *udpListener {
	l := &udpListener{r: r, conn: conn, clients: map[netip.AddrPort]*relayConn{},
		state: newServeState(TransportUDP, conn.LocalAddr(), 0, 1)}
	l.alloc = allocator{r: r, gate: &l.gate}
	return l
}

// ReadFrom returns the next request for pion. ChannelData of bound
// channels is relayed here and never reaches pion; refused Allocate
// requests are answered here; garbage and oversize datagrams are dropped
// and counted. An error ends pion's read loop, so the
// listener is recorded as no longer serving.
func (l *udpListener) ReadFrom(p []byte) (int, net.Addr, error) {
	if l.held {
		l.held = false
		l.gate.release()
	}
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(p)
		if err != nil {
			l.r.stopped(&l.state, err)
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if n >= len(p) {
			// Truncated by the read: larger than any TURN message the
			// relay takes (pion's inbound MTU).
			l.r.udpInvalid.add(invalidOversize)
			continue
		}
		if n >= 4 && p[0]&0xC0 == 0x40 {
			if l.forward(p[:n], from) {
				continue
			}
			return n, net.UDPAddrFromAddrPort(from), nil
		}
		if !stun.IsMessage(p[:n]) {
			l.r.udpInvalid.add(invalidGarbage)
			continue
		}
		v := l.r.inspect(p[:n], from, TransportUDP, l.lookup(from) != nil)
		if v.reply != nil {
			_, _ = l.conn.WriteToUDPAddrPort(v.reply, from)
			continue
		}
		if !v.pass {
			continue
		}
		if v.msg != nil {
			if len(v.msg) > len(p) {
				continue
			}
			n = copy(p, v.msg)
		}
		if v.bind != nil {
			l.bindMu.Lock()
			l.pending = v.bind
			l.bindMu.Unlock()
		}
		if v.hold {
			l.gate.hold(v.user, from, l)
			l.held = true
		}
		return n, net.UDPAddrFromAddrPort(from), nil
	}
}

// forward relays one ChannelData message of a bound channel. It reports
// false when pion should see the message instead.
func (l *udpListener) forward(p []byte, from netip.AddrPort) bool {
	c := l.lookup(from)
	if c == nil {
		return false
	}
	return forwardChannelData(c, p)
}

// forwardChannelData relays p, a ChannelData message from c's client, when
// its channel is bound.
func forwardChannelData(c *relayConn, p []byte) bool {
	size := int(binary.BigEndian.Uint16(p[2:4]))
	if 4+size > len(p) {
		return false
	}
	peer, ok := c.peerFor(binary.BigEndian.Uint16(p[0:2]), c.r.clock.Load())
	if !ok {
		return false
	}
	_, _ = c.sendToPeer(p[4:4+size], peer)
	return true
}

func (l *udpListener) lookup(client netip.AddrPort) *relayConn {
	l.mu.RLock()
	c := l.clients[client]
	l.mu.RUnlock()
	return c
}

// WriteTo sends pion's responses, indications and ChannelData; a
// ChannelBind success commits the binding to the fast path.
func (l *udpListener) WriteTo(p []byte, addr net.Addr) (int, error) {
	to, ok := addrPortOf(addr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	// Peer data pion relays itself is counted here; the fast path
	// writes through writeToClient and counts its own.
	var counted *relayConn
	sent := -1
	if carriesPeerData(p) {
		if counted = l.lookup(to); counted != nil {
			sent = counted.countToClient(p)
		}
	}
	if len(p) >= 20 && binary.BigEndian.Uint16(p[0:2]) == typeChannelBindSuccess {
		l.bindMu.Lock()
		pb := l.pending
		if pb != nil && pb.client == to && [12]byte(p[8:20]) == pb.tx {
			l.pending = nil
		} else {
			pb = nil
		}
		l.bindMu.Unlock()
		if pb != nil {
			if c := l.lookup(to); c != nil {
				commitBind(c, pb)
			}
		}
	}
	n, err := l.conn.WriteToUDPAddrPort(p, to)
	if err != nil && counted != nil {
		counted.uncountToClient(sent)
	}
	return n, err
}

// commitBind records a binding pion accepted. It expires a second before
// pion's, so the fast path never outlives pion's view of the channel.
func commitBind(c *relayConn, pb *pendingBind) {
	now := time.Now().UnixNano()
	c.bind(pb.number, pb.peer, now+int64(channelBindLifetime-time.Second), now)
}

func (l *udpListener) writeToClient(b []byte, to netip.AddrPort) error {
	_, err := l.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (l *udpListener) stream() bool { return false }

func (l *udpListener) attach(client netip.AddrPort, c *relayConn) {
	l.mu.Lock()
	l.clients[client] = c
	l.mu.Unlock()
}

func (l *udpListener) detach(client netip.AddrPort, c *relayConn) {
	l.mu.Lock()
	if l.clients[client] == c {
		delete(l.clients, client)
	}
	l.mu.Unlock()
}

func (l *udpListener) Close() error                       { return l.conn.Close() }
func (l *udpListener) LocalAddr() net.Addr                { return l.conn.LocalAddr() }
func (l *udpListener) SetDeadline(t time.Time) error      { return l.conn.SetDeadline(t) }
func (l *udpListener) SetReadDeadline(t time.Time) error  { return l.conn.SetReadDeadline(t) }
func (l *udpListener) SetWriteDeadline(t time.Time) error { return l.conn.SetWriteDeadline(t) }
