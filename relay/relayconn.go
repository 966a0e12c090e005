package relay

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
)

// clientLink is the client side of an allocation: the listener socket (UDP)
// or connection (TCP, TLS) its requests arrive on.
type clientLink interface {
	// writeToClient sends one framed TURN message to the client.
	writeToClient(b []byte, to netip.AddrPort) error
	// writeFramesToClient sends framed TURN messages to the client in
	// order, with scratch for a datagram batch and wbuf for a stream's
	// concatenated frames, and returns the set of those not sent (bit i
	// for frames[i]; at most 64 frames).
	writeFramesToClient(frames []udpbatch.Msg, scratch *udpbatch.Batch, wbuf *[]byte) (failed uint64)
	// stream reports a stream transport, where ChannelData is padded to a
	// multiple of four bytes (RFC 8656 section 12.5).
	stream() bool
	// attach and detach map a client address to its allocation.
	attach(client netip.AddrPort, c *relayConn)
	detach(client netip.AddrPort, c *relayConn)
}

// channelBinding is a channel as the client bound it.
type channelBinding struct {
	number  uint16
	peer    netip.AddrPort
	expires int64 // unix nanoseconds on the relay's coarse clock
}

// maxRelayPacket is the largest datagram relayed, matching pion's inbound
// MTU; larger ones are truncated by the kernel read and thus dropped.
const maxRelayPacket = 1600

// relayConn is one allocation's relayed socket. pion reads and writes it
// for the slow paths (Send and Data indications); ChannelData of bound
// channels bypasses pion in both directions.
type relayConn struct {
	r      *Relay
	udp    *net.UDPConn
	local  netip.AddrPort // relayed address as advertised
	bound  netip.AddrPort // relayed address as bound (differs behind NAT)
	link   clientLink
	client netip.AddrPort
	bucket atomic.Pointer[bucket] // nil when uncapped; replaced when the cap changes

	id    uint64
	user  string
	start time.Time

	toPeerBytes, toPeerPackets     atomic.Uint64
	toClientBytes, toClientPackets atomic.Uint64
	dropped                        atomic.Uint64

	// channels is replaced whole on change so the hot paths read it
	// without a lock.
	channels atomic.Pointer[[]channelBinding]

	// sendOK caches the last peer that passed the send-time filter, with
	// the registry generation it was checked under.
	sendOK atomic.Pointer[sendCheck]

	rbuf []byte // peer reads without batches: 4 header bytes, payload, 3 padding

	// Batched peer reads (nil bc: one datagram per read). pion's reader
	// only: the batch being worked through, from the datagram at pos.
	bc        *udpbatch.Conn
	lent      udpbatch.LentRead
	lending   *peerBatch
	cur       *peerBatch
	curN, pos int

	closeOnce sync.Once
	closeErr  error
}

type sendCheck struct {
	peer netip.AddrPort
	gen  uint64
}

var _ net.PacketConn = (*relayConn)(nil)

// channelFor returns the live binding to peer, if any.
func (c *relayConn) channelFor(peer netip.AddrPort, now int64) (uint16, bool) {
	p := c.channels.Load()
	if p == nil {
		return 0, false
	}
	for i := range *p {
		b := &(*p)[i]
		if b.peer == peer && b.expires > now {
			return b.number, true
		}
	}
	return 0, false
}

// peerFor returns the live binding of channel number, if any.
func (c *relayConn) peerFor(number uint16, now int64) (netip.AddrPort, bool) {
	p := c.channels.Load()
	if p == nil {
		return netip.AddrPort{}, false
	}
	for i := range *p {
		b := &(*p)[i]
		if b.number == number && b.expires > now {
			return b.peer, true
		}
	}
	return netip.AddrPort{}, false
}

// bind records a channel binding that pion accepted (or refreshed).
func (c *relayConn) bind(number uint16, peer netip.AddrPort, expires int64, now int64) {
	for {
		old := c.channels.Load()
		var next []channelBinding
		if old != nil {
			next = make([]channelBinding, 0, len(*old)+1)
			for _, b := range *old {
				if b.number != number && b.peer != peer && b.expires > now {
					next = append(next, b)
				}
			}
		}
		next = append(next, channelBinding{number: number, peer: peer, expires: expires})
		if c.channels.CompareAndSwap(old, &next) {
			return
		}
	}
}

// permitSend runs the send-time peer filter, cached per peer.
func (c *relayConn) permitSend(peer netip.AddrPort) bool {
	gen := c.r.gen.Load()
	if s := c.sendOK.Load(); s != nil && s.peer == peer && s.gen == gen {
		return true
	}
	if !c.r.filter.Load().permitSend(peer, c.r.isRelayed) {
		return false
	}
	c.sendOK.Store(&sendCheck{peer: peer, gen: gen})
	return true
}

// sendToPeer relays one client payload. It reports false when the packet
// was dropped by the filter or a cap.
func (c *relayConn) sendToPeer(b []byte, peer netip.AddrPort) (bool, error) {
	if !c.admitToPeer(b, peer) {
		return false, nil
	}
	if _, err := c.udp.WriteToUDPAddrPort(b, peer); err != nil {
		c.unsendToPeer(len(b))
		return false, err
	}
	return true, nil
}

// admitToPeer runs the send-time peer filter and the caps on one client
// payload, and counts it when it passes. It is counted before the write,
// so whoever sees the packet arrive sees it counted; unsendToPeer takes a
// failed write back.
func (c *relayConn) admitToPeer(b []byte, peer netip.AddrPort) bool {
	if !c.permitSend(peer) {
		c.dropped.Add(1)
		c.r.refuse(ReasonPeer)
		return false
	}
	if !c.r.allowBytes(c, len(b), false) {
		c.dropped.Add(1)
		return false
	}
	c.toPeerBytes.Add(uint64(len(b)))
	c.toPeerPackets.Add(1)
	return true
}

// unsendToPeer takes back an admitted payload of n bytes whose write
// failed.
func (c *relayConn) unsendToPeer(n int) {
	c.toPeerBytes.Add(-uint64(n))
	c.toPeerPackets.Add(^uint64(0))
	c.dropped.Add(1)
}

// WriteTo is pion's path for Send indications and ChannelData it handles
// itself. Dropped packets report success: UDP may lose them anyway, and
// pion treats a short write as an error.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	peer, ok := addrPortOf(addr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("unsupported peer address")}
	}
	if _, err := c.sendToPeer(p, peer); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrom reads peer datagrams. Those from a peer with a bound channel
// are framed as ChannelData and sent to the client here; the rest go to
// pion, which sends them as Data indications where a permission exists.
//
// It reads what is queued in one batch and sends the batch's frames to
// the client together (one sendmmsg, or one stream write), before it
// hands pion anything and before it reads again, so the client gets the
// peer's datagrams in order.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.bc == nil {
		return c.readFromOne(p)
	}
	for {
		if c.cur == nil {
			_, n, err := c.bc.ReadLent(&c.lent)
			if err != nil {
				return 0, nil, err
			}
			c.cur, c.curN, c.pos = c.lending, n, 0
			c.lending = nil
		}
		pb := c.cur
		stream := c.link.stream()
		now := c.r.clock.Load()
		for c.pos < c.curN {
			i := c.pos
			c.pos++
			m := &pb.b.Msgs[i]
			n := m.N
			from := netip.AddrPortFrom(m.Addr.Addr().Unmap(), m.Addr.Port())
			if !c.r.allowBytes(c, n, c.r.node.Load() != nil && c.r.isRelayed(from)) {
				c.dropped.Add(1)
				continue
			}
			ch, ok := c.channelFor(from, now)
			if !ok {
				// pion's: after what the batch framed so far.
				c.flushToClient(pb)
				return copy(p, m.Buf[:n]), net.UDPAddrFromAddrPort(from), nil
			}
			f := pb.frame(i)
			binary.BigEndian.PutUint16(f[0:2], ch)
			binary.BigEndian.PutUint16(f[2:4], uint16(n))
			size := 4 + n
			if stream {
				for size%4 != 0 {
					f[size] = 0
					size++
				}
			}
			c.toClientBytes.Add(uint64(n))
			c.toClientPackets.Add(1)
			pb.out = append(pb.out, udpbatch.Msg{Buf: f[:size], Addr: c.client})
			pb.outN = append(pb.outN, n)
		}
		c.flushToClient(pb)
		c.cur = nil
		peerBatches.Put(pb)
	}
}

// flushToClient sends the frames pb holds to the client and takes back
// the count of those not sent.
func (c *relayConn) flushToClient(pb *peerBatch) {
	if len(pb.out) == 0 {
		return
	}
	failed := c.link.writeFramesToClient(pb.out, pb.b, &pb.wbuf)
	for i := 0; failed != 0; i++ {
		if failed&1 != 0 {
			c.toClientBytes.Add(-uint64(pb.outN[i]))
			c.toClientPackets.Add(^uint64(0))
			c.dropped.Add(1)
		}
		failed >>= 1
	}
	clear(pb.out)
	pb.out = pb.out[:0]
	pb.outN = pb.outN[:0]
}

// lendPeerBatch and givePeerBatch lend ReadLent a batch from the pool.
func (c *relayConn) lendPeerBatch() *udpbatch.Batch {
	pb := peerBatches.Get().(*peerBatch)
	c.lending = pb
	return pb.b
}

func (c *relayConn) givePeerBatch(*udpbatch.Batch) {
	peerBatches.Put(c.lending)
	c.lending = nil
}

// readFromOne is ReadFrom one datagram at a time, where batches are not
// available.
func (c *relayConn) readFromOne(p []byte) (int, net.Addr, error) {
	buf := c.rbuf
	for {
		n, from, err := c.udp.ReadFromUDPAddrPort(buf[4 : 4+maxRelayPacket])
		if err != nil {
			return 0, nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !c.r.allowBytes(c, n, c.r.node.Load() != nil && c.r.isRelayed(from)) {
			c.dropped.Add(1)
			continue
		}
		if ch, ok := c.channelFor(from, c.r.clock.Load()); ok {
			binary.BigEndian.PutUint16(buf[0:2], ch)
			binary.BigEndian.PutUint16(buf[2:4], uint16(n))
			size := 4 + n
			if c.link.stream() {
				for size%4 != 0 {
					buf[size] = 0
					size++
				}
			}
			c.toClientBytes.Add(uint64(n))
			c.toClientPackets.Add(1)
			if err := c.link.writeToClient(buf[:size], c.client); err != nil {
				c.toClientBytes.Add(-uint64(n))
				c.toClientPackets.Add(^uint64(0))
				c.dropped.Add(1)
			}
			continue
		}
		// pion sends it as a Data indication if the peer has a
		// permission, or as ChannelData if pion has bound a channel we
		// have not committed yet (or no longer hold); the client side
		// counts it then (countToClient).
		return copy(p, buf[4:4+n]), net.UDPAddrFromAddrPort(from), nil
	}
}

// Close ends the allocation: pion calls it when the allocation expires or
// is refreshed to zero, and the relay when it shuts down.
func (c *relayConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.udp.Close()
		c.link.detach(c.client, c)
		c.r.release(c)
	})
	return c.closeErr
}

func (c *relayConn) LocalAddr() net.Addr                { return net.UDPAddrFromAddrPort(c.local) }
func (c *relayConn) SetDeadline(t time.Time) error      { return c.udp.SetDeadline(t) }
func (c *relayConn) SetReadDeadline(t time.Time) error  { return c.udp.SetReadDeadline(t) }
func (c *relayConn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }

// stats returns the allocation's accounting so far.
func (c *relayConn) stats() AllocationStats {
	return AllocationStats{
		ID:              c.id,
		User:            c.user,
		Client:          c.client,
		Relayed:         c.local,
		Start:           c.start,
		ToPeerBytes:     c.toPeerBytes.Load(),
		ToPeerPackets:   c.toPeerPackets.Load(),
		ToClientBytes:   c.toClientBytes.Load(),
		ToClientPackets: c.toClientPackets.Load(),
		Dropped:         c.dropped.Load(),
	}
}

// countToClient counts the payload of peer data pion sends to the client
// itself, before it is written, and returns it for uncountToClient should
// the write fail. That is a Data indication, or ChannelData when pion holds
// a channel the fast path does not: between pion binding it and the
// listener seeing the success response, and in the last second of a
// binding. Counting at the client side keeps peer data pion drops for
// want of a permission out of the totals. Other messages count nothing.
func (c *relayConn) countToClient(msg []byte) int {
	n, ok := channelDataPayload(msg)
	if !ok {
		n, ok = dataIndicationPayload(msg)
	}
	if !ok {
		return -1
	}
	c.toClientBytes.Add(uint64(n))
	c.toClientPackets.Add(1)
	return n
}

// uncountToClient takes back a countToClient of n bytes (n >= 0).
func (c *relayConn) uncountToClient(n int) {
	if n < 0 {
		return
	}
	c.toClientBytes.Add(-uint64(n))
	c.toClientPackets.Add(^uint64(0))
	c.dropped.Add(1)
}

// carriesPeerData reports whether a message pion writes to a client may
// carry peer data: ChannelData or a Data indication.
func carriesPeerData(msg []byte) bool {
	return len(msg) >= 4 && msg[0]&0xC0 == 0x40 ||
		len(msg) >= 20 && binary.BigEndian.Uint16(msg[0:2]) == typeDataIndication
}

// channelDataPayload returns the payload length of a ChannelData message.
func channelDataPayload(msg []byte) (int, bool) {
	if len(msg) < 4 || msg[0]&0xC0 != 0x40 {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(msg[2:4]))
	return n, 4+n <= len(msg)
}

// dataIndicationPayload returns the DATA length of a Data indication.
func dataIndicationPayload(msg []byte) (int, bool) {
	if len(msg) < 20 || binary.BigEndian.Uint16(msg[0:2]) != typeDataIndication {
		return 0, false
	}
	for off := 20; off+4 <= len(msg); {
		t := binary.BigEndian.Uint16(msg[off:])
		l := int(binary.BigEndian.Uint16(msg[off+2:]))
		if t == attrData {
			return l, off+4+l <= len(msg)
		}
		off += 4 + (l+3)&^3
	}
	return 0, false
}
