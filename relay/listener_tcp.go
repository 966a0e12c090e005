package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
)

// tcpListener wraps a TCP or TLS listener for pion. pion reads each
// accepted connection on its own goroutine through a STUNConn; the
// connections returned here hand it one whole TURN frame per Read.
type tcpListener struct {
	net.Listener
	r     *Relay
	gate  allocGate
	alloc allocator
	eng   engine // the TURN server on this listener; guarded by r.lmu

	// state is whether the accept loop still runs; acceptErrors counts the
	// temporary accept errors it rode out, logged through acceptLog.
	state        serveState
	acceptErrors atomic.Uint64
	acceptLog    logLimiter
	errsSince    int // temporary errors since the last accepted connection; accept loop only
	startOnce    sync.Once
	ready        chan *tcpConn // connections that sent their first bytes, for pion
	acceptDone   chan struct{} // closed when the accept loop ends, with acceptErr
	acceptErr    error

	invalid invalidCounts // garbage and oversize frames dropped
	closes  [len(closeReasons)]atomic.Uint64

	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	closed  bool
	closing chan struct{} // closed by closeAll: ends an accept backoff
}

func newTCPListener(r *Relay, l net.Listener) *tcpListener {
	tl := &tcpListener{Listener: l, r: r, conns: map[*tcpConn]struct{}{}, closing: make(chan struct{}),
		ready: make(chan *tcpConn), acceptDone: make(chan struct{}),
		state: newServeState(TransportTCP, l.Addr(), 0, 1), acceptLog: logLimiter{every: acceptLogEvery}}
	tl.alloc = allocator{r: r, gate: &tl.gate}
	return tl
}

// Accept returns the next connection that has sent something: pion
// starts a reader goroutine with a packet buffer for each connection it
// accepts, so connections wait here, on a small goroutine of their own
// and without a buffer, until their first bytes arrive (or AuthTimeout
// closes them).
//
// The accept loop behind it rides out temporary errors (out of file
// descriptors, a connection aborted in the queue): they are counted,
// logged at most once a second and waited out with a growing pause, as
// net/http.Server does. Any other error ends pion's accept loop, and the
// listener is recorded as no longer serving. A connection from an address
// that holds MaxConnsPerSource already is closed and counted as refused.
func (l *tcpListener) Accept() (net.Conn, error) {
	l.startOnce.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.acceptDone:
		l.r.stopped(&l.state, l.acceptErr)
		return nil, l.acceptErr
	}
}

// acceptLoop accepts connections and starts a waiter for each.
func (l *tcpListener) acceptLoop() {
	defer close(l.acceptDone)
	for {
		nc, err := l.acceptRetrying()
		if err != nil {
			l.acceptErr = err
			return
		}
		remote, _ := addrPortOf(nc.RemoteAddr())
		if !l.r.sources.add(remote.Addr(), l.r.maxConnsPerSource) {
			_ = nc.Close()
			l.r.refused(ReasonSourceLimit, "turn connection refused", "listener", l.state.name, "client", remote.Addr())
			continue
		}
		_ = nc.SetDeadline(time.Now().Add(l.r.authTimeout))
		c := &tcpConn{Conn: nc, l: l, remote: remote}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.r.sources.remove(remote.Addr())
			_ = nc.Close()
			l.acceptErr = net.ErrClosed
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		go c.waitFirst()
	}
}

// waitFirst waits for the connection's first frame header (the TLS
// handshake included) and hands the connection to pion.
func (c *tcpConn) waitFirst() {
	if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
		c.readFailed(err)
		_ = c.Close()
		return
	}
	c.primed = true
	select {
	case c.l.ready <- c:
	case <-c.l.acceptDone:
		_ = c.Close()
	case <-c.l.closing:
		_ = c.Close()
	}
}

// open is how many client connections the listener holds.
func (l *tcpListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// closedBy counts a connection the relay closed for reason.
func (l *tcpListener) closedBy(reason string) {
	for i, s := range closeReasons {
		if s == reason {
			l.closes[i].Add(1)
		}
	}
}

// acceptRetrying accepts from the wrapped listener through temporary
// errors.
func (l *tcpListener) acceptRetrying() (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err == nil {
			if l.errsSince > 0 {
				if ok, suppressed := l.acceptLog.allow(time.Now()); ok {
					l.r.log.Warn("relay listener accepting again", "listener", l.state.name,
						"errors", l.errsSince, "suppressed", suppressed)
				}
				l.errsSince = 0
			}
			return nc, nil
		}
		if !temporaryAcceptError(err) {
			return nil, err
		}
		l.acceptErrors.Add(1)
		l.errsSince++
		delay = nextBackoff(delay)
		if ok, suppressed := l.acceptLog.allow(time.Now()); ok {
			l.r.log.Warn("relay accept error; retrying", "listener", l.state.name, "err", err,
				"retry_in", delay, "suppressed", suppressed)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.closing:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// closeAll closes the listener and every connection it accepted: pion
// closes only the listener.
func (l *tcpListener) closeAll() {
	_ = l.Listener.Close()
	l.mu.Lock()
	if !l.closed {
		close(l.closing)
	}
	l.closed = true
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// tcpConn is one client's TURN-over-TCP (or TLS) connection.
//
// An idle connection holds no buffer: its reader waits for the next
// frame's first four bytes in hdr, and takes a frame buffer from a pool
// only while frames are arriving; it gives it back once every byte read
// is consumed.
type tcpConn struct {
	net.Conn
	l      *tcpListener
	remote netip.AddrPort

	// Reader only (the waiter, then pion's reader).
	hdr    [4]byte
	primed bool    // hdr holds the first frame's header, read by the waiter
	buf    *[]byte // pooled; nil when nothing is buffered
	r, w   int     // buffered bytes are (*buf)[r:w]
	// sends are the ChannelData payloads of the buffered frames queued
	// for their peers; sent before the buffer is read into, moved or
	// given back, and before pion sees a frame.
	sends *sendQueue

	// held is the transaction ID of the Allocate request the allocation
	// gate is held for, nil when not held. The gate is released when
	// pion answers that request, before the answer is written, or at the
	// latest on the next read.
	held atomic.Pointer[[stun.TransactionIDSize]byte]

	rc      atomic.Pointer[relayConn]
	bindMu  sync.Mutex
	pending *pendingBind

	closeOnce sync.Once
	closeWhy  atomic.Pointer[string] // why the relay closed it, for the metrics
}

var (
	_ net.Conn   = (*tcpConn)(nil)
	_ clientLink = (*tcpConn)(nil)
)

var errFrame = errors.New("not a TURN frame")

// maxTCPFrame is the largest frame on a stream: a STUN header and the
// largest length its 16-bit field can state.
const maxTCPFrame = 20 + 65535

// frameBufs holds the frame buffers of the connections that are reading:
// the largest frame and room to read ahead.
var frameBufs = sync.Pool{New: func() any {
	b := make([]byte, maxTCPFrame+4096)
	return &b
}}

// readFrame reads one STUN message or ChannelData message (with its
// padding). The frame is valid until the next readFrame or settle.
func (c *tcpConn) readFrame() ([]byte, error) {
	if c.buf == nil {
		// Idle: wait for a header without holding a buffer.
		if c.primed {
			c.primed = false
		} else if _, err := io.ReadFull(c.Conn, c.hdr[:]); err != nil {
			return nil, err
		}
		c.buf = frameBufs.Get().(*[]byte)
		c.r, c.w = 0, copy(*c.buf, c.hdr[:])
	}
	if err := c.fill(4); err != nil {
		return nil, err
	}
	size, err := frameSize((*c.buf)[c.r : c.r+4])
	if err != nil {
		return nil, err
	}
	if err := c.fill(size); err != nil {
		return nil, err
	}
	f := (*c.buf)[c.r : c.r+size]
	c.r += size
	return f, nil
}

// fill makes n bytes available from r, reading ahead what has arrived.
func (c *tcpConn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	buf := *c.buf
	if c.r+n > len(buf) {
		c.w = copy(buf, buf[c.r:c.w])
		c.r = 0
	}
	m, err := io.ReadAtLeast(c.Conn, buf[c.w:], c.r+n-c.w)
	c.w += m
	return err
}

// settle gives the frame buffer back once everything read is consumed.
func (c *tcpConn) settle() {
	if c.buf != nil && c.r == c.w {
		c.dropBuf()
	}
}

func (c *tcpConn) dropBuf() {
	if c.buf != nil {
		frameBufs.Put(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
	}
}

// releaseGate releases the allocation gate if this connection holds it.
func (c *tcpConn) releaseGate() {
	if c.held.Swap(nil) != nil {
		c.l.gate.release()
	}
}

// Read hands pion one frame. ChannelData of bound channels is relayed
// here; refused Allocate requests are answered here; garbage and frames
// too large for pion are dropped and counted. A stream that is not TURN
// framing, or a connection without an allocation past its deadline, ends
// with an error: pion closes the connection.
func (c *tcpConn) Read(p []byte) (int, error) {
	c.releaseGate()
	for {
		if !c.frameBuffered() {
			// The next read may block or move the buffer.
			flushToPeers(&c.sends)
			c.settle()
		}
		f, err := c.readFrame()
		if err != nil {
			flushToPeers(&c.sends)
			c.dropBuf()
			c.readFailed(err)
			return 0, err
		}
		n, ok, err := c.handle(f, p)
		if err != nil {
			flushToPeers(&c.sends)
			c.dropBuf()
			return 0, err
		}
		if ok {
			flushToPeers(&c.sends)
			c.settle()
			return n, nil
		}
	}
}

// frameBuffered reports whether a whole frame is buffered, so readFrame
// returns it without reading.
func (c *tcpConn) frameBuffered() bool {
	if c.buf == nil || c.w-c.r < 4 {
		return false
	}
	size, err := frameSize((*c.buf)[c.r : c.r+4])
	return err != nil || c.w-c.r >= size // readFrame fails a bad one without reading
}

// frameSize is the length of the frame whose first four bytes are hdr: a
// STUN message (20-byte header) or ChannelData padded to four bytes over
// a stream (RFC 8656 section 12.5).
func frameSize(hdr []byte) (int, error) {
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	switch hdr[0] & 0xC0 {
	case 0x00:
		return size + 20, nil
	case 0x40:
		return 4 + (size+3)&^3, nil
	default:
		return 0, fmt.Errorf("%w: first byte %#x", errFrame, hdr[0])
	}
}

// handle deals with one frame: it reports whether to hand p[:n] to pion.
func (c *tcpConn) handle(f, p []byte) (n int, ok bool, err error) {
	if f[0]&0xC0 == 0x40 {
		if rc := c.rc.Load(); rc != nil && forwardChannelData(rc, f, &c.sends) {
			return 0, false, nil
		}
		if len(f) > len(p) {
			c.l.invalid.add(invalidOversize)
			return 0, false, nil
		}
		return copy(p, f), true, nil
	}
	if !stun.IsMessage(f) {
		c.l.invalid.add(invalidGarbage)
		return 0, false, nil
	}
	if len(f) > len(p) {
		c.l.invalid.add(invalidOversize)
		return 0, false, nil
	}
	// Whatever pion sees or is answered here comes after the payloads
	// read before it.
	flushToPeers(&c.sends)
	v := c.l.r.inspect(f, c.remote, c.l.state.transport, c.rc.Load() != nil)
	if v.reply != nil {
		if _, err := c.Write(v.reply); err != nil {
			return 0, false, err
		}
		return 0, false, nil
	}
	if !v.pass {
		return 0, false, nil
	}
	if v.msg != nil {
		f = v.msg
	}
	if len(f) > len(p) {
		c.l.invalid.add(invalidOversize)
		return 0, false, nil
	}
	if v.bind != nil {
		c.bindMu.Lock()
		c.pending = v.bind
		c.bindMu.Unlock()
	}
	n = copy(p, f)
	if v.hold {
		c.l.gate.hold(v.user, c.remote, c)
		tx := [stun.TransactionIDSize]byte(f[8:20])
		c.held.Store(&tx)
	}
	return n, true, nil
}

// readFailed counts why the reader stopped, when it was the relay's doing.
func (c *tcpConn) readFailed(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.closeWhy.CompareAndSwap(nil, ptr(closeAuthTimeout))
	case errors.Is(err, errFrame):
		c.l.invalid.add(invalidGarbage)
		c.closeWhy.CompareAndSwap(nil, ptr(closeBadFrame))
	}
}

func ptr(s string) *string { return &s }

// Write sends one frame of pion's. Peer data pion relays itself (Data
// indications, ChannelData) is counted here; a ChannelBind success commits
// the binding; the answer to a held Allocate releases the allocation gate
// before it is written.
func (c *tcpConn) Write(p []byte) (int, error) {
	if tx := c.held.Load(); tx != nil && len(p) >= 20 && [stun.TransactionIDSize]byte(p[8:20]) == *tx {
		c.releaseGate()
	}
	rc := c.rc.Load()
	sent := -1
	if rc != nil && carriesPeerData(p) {
		sent = rc.countToClient(p)
	}
	if len(p) >= 20 && binary.BigEndian.Uint16(p[0:2]) == typeChannelBindSuccess {
		c.bindMu.Lock()
		pb := c.pending
		if pb != nil && [12]byte(p[8:20]) == pb.tx {
			c.pending = nil
		} else {
			pb = nil
		}
		c.bindMu.Unlock()
		if pb != nil && rc != nil {
			commitBind(rc, pb)
		}
	}
	n, err := c.write(p)
	if err != nil && rc != nil {
		rc.uncountToClient(sent)
	}
	return n, err
}

// write sends one frame under a deadline, holding no lock of the relay's
// (the connection itself keeps concurrent writes whole). A client that
// does not take a frame within the deadline is a slow reader: its
// connection, and with it its allocation, is closed, so it loses its own
// data and stalls no one else.
func (c *tcpConn) write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.l.r.writeTimeout))
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.closeWhy.CompareAndSwap(nil, ptr(closeSlowReader))
		_ = c.Close()
	}
	return n, err
}

// Close ends the connection and, as RFC 8656 asks for TCP, its
// allocation.
func (c *tcpConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		if rc := c.rc.Load(); rc != nil {
			_ = rc.Close()
		}
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.r.sources.remove(c.remote.Addr())
		if why := c.closeWhy.Load(); why != nil {
			c.l.closedBy(*why)
			c.l.r.log.Debug("relay closed a client connection", "listener", c.l.state.name, "client", c.remote, "reason", *why)
		}
	})
	return err
}

// writeToClient is the fast path's write: it counts its own frames, so it
// bypasses Write's accounting.
func (c *tcpConn) writeToClient(b []byte, _ netip.AddrPort) error {
	_, err := c.write(b)
	return err
}

// writeFramesToClient sends the frames in one write: a stream takes them
// back to back. When the write fails, none counts as sent.
func (c *tcpConn) writeFramesToClient(frames []udpbatch.Msg, _ *udpbatch.Batch, wbuf *[]byte) (failed uint64) {
	b := (*wbuf)[:0]
	for i := range frames {
		b = append(b, frames[i].Buf...)
	}
	*wbuf = b
	if _, err := c.write(b); err != nil {
		return 1<<len(frames) - 1
	}
	return 0
}

func (c *tcpConn) stream() bool { return true }

// attach maps the connection to its new allocation, which lifts the
// allocation deadline: the allocation's lifetime governs from now on.
func (c *tcpConn) attach(_ netip.AddrPort, rc *relayConn) {
	c.rc.Store(rc)
	_ = c.Conn.SetReadDeadline(time.Time{})
}

// detach unmaps an ended allocation; the connection has AuthTimeout to
// allocate again.
func (c *tcpConn) detach(_ netip.AddrPort, rc *relayConn) {
	if c.rc.CompareAndSwap(rc, nil) {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.r.authTimeout))
	}
}
