package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
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

	// Batched reads (nil bc: one datagram per read). Reader only: the
	// batch read, the next datagram in it, the client payloads queued
	// for their peers.
	bc      *udpbatch.Conn
	rb      *udpbatch.Batch
	rn, pos int
	sends   *sendQueue

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
	if bc, err := udpbatch.New(conn); err == nil {
		l.bc = bc
		l.rb = udpbatch.NewBatch(listenerBatchLen, func(int) []byte { return make([]byte, maxRelayPacket) })
	}
	return l
}

// listenerBatchLen is the most datagrams one read of a listener socket
// takes.
const listenerBatchLen = 32

// next returns the next datagram: from the batch read last, or from a new
// read once the payloads queued for peers are sent. A datagram that fills
// its buffer (maxRelayPacket, pion's inbound MTU) was truncated.
func (l *udpListener) next(p []byte) ([]byte, netip.AddrPort, error) {
	if l.bc == nil {
		n, from, err := l.conn.ReadFromUDPAddrPort(p)
		return p[:n], from, err
	}
	if l.pos == l.rn {
		flushToPeers(&l.sends)
		n, err := l.bc.Read(l.rb)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		l.rn, l.pos = n, 0
	}
	m := &l.rb.Msgs[l.pos]
	l.pos++
	return m.Buf[:m.N], m.Addr, nil
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
		d, from, err := l.next(p)
		if err != nil {
			flushToPeers(&l.sends)
			l.r.stopped(&l.state, err)
			return 0, nil, err
		}
		n := len(d)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if n >= len(p) || n >= maxRelayPacket {
			// Truncated by the read: larger than any TURN message the
			// relay takes (pion's inbound MTU).
			l.r.udpInvalid.add(invalidOversize)
			continue
		}
		if n >= 4 && d[0]&0xC0 == 0x40 {
			if l.forward(d, from) {
				continue
			}
			flushToPeers(&l.sends)
			return copy(p, d), net.UDPAddrFromAddrPort(from), nil
		}
		if !stun.IsMessage(d) {
			l.r.udpInvalid.add(invalidGarbage)
			continue
		}
		// Whatever pion sees or is answered here comes after the
		// payloads read before it.
		flushToPeers(&l.sends)
		v := l.r.inspect(d, from, TransportUDP, l.lookup(from) != nil)
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
		} else {
			n = copy(p, d)
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
	q := &l.sends
	if l.bc == nil {
		q = nil // p is pion's buffer: send at once
	}
	return forwardChannelData(c, p, q)
}

// forwardChannelData relays p, a ChannelData message from c's client, when
// its channel is bound: at once with a nil q, else through the reader's
// send queue *q, which the reader flushes before p's buffer is reused.
func forwardChannelData(c *relayConn, p []byte, q **sendQueue) bool {
	size := int(binary.BigEndian.Uint16(p[2:4]))
	if 4+size > len(p) {
		return false
	}
	peer, ok := c.peerFor(binary.BigEndian.Uint16(p[0:2]), c.r.clock.Load())
	if !ok {
		return false
	}
	queueToPeer(q, c, p[4:4+size], peer)
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

// writeFramesToClient sends the frames in one sendmmsg where it can; a
// frame that fails is skipped.
func (l *udpListener) writeFramesToClient(frames []udpbatch.Msg, scratch *udpbatch.Batch, _ *[]byte) (failed uint64) {
	if l.bc == nil {
		for i := range frames {
			if _, err := l.conn.WriteToUDPAddrPort(frames[i].Buf, frames[i].Addr); err != nil {
				failed |= 1 << i
			}
		}
		return failed
	}
	for done := 0; done < len(frames); {
		n, err := l.bc.Write(scratch, frames[done:])
		done += n
		if err == nil {
			break
		}
		failed |= 1 << done
		done++
	}
	return failed
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
