package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// tcpListener wraps a TCP or TLS listener for pion. pion reads each
// accepted connection on its own goroutine through a STUNConn; the
// connections returned here hand it one whole TURN frame per Read.
type tcpListener struct {
	net.Listener
	r     *Relay
	gate  allocGate
	alloc allocator

	// state is whether the accept loop still runs; acceptErrors counts the
	// temporary accept errors it rode out, logged through acceptLog.
	state        serveState
	acceptErrors atomic.Uint64
	acceptLog    logLimiter
	errsSince    int // temporary errors since the last accepted connection; accept loop only

	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	closed  bool
	closing chan struct{} // closed by closeAll: ends an accept backoff
}

func newTCPListener(r *Relay, l net.Listener) *tcpListener {
	tl := &tcpListener{Listener: l, r: r, conns: map[*tcpConn]struct{}{}, closing: make(chan struct{}),
		state: newServeState(TransportTCP, l.Addr(), 0, 1), acceptLog: logLimiter{every: acceptLogEvery}}
	tl.alloc = allocator{r: r, gate: &tl.gate}
	return tl
}

// Accept returns the next connection. Temporary errors (out of file
// descriptors, a connection aborted in the queue) are counted, logged at
// most once a second and ridden out with a growing pause, as
// net/http.Server does; any other error ends pion's accept loop, and the
// listener is recorded as no longer serving.
func (l *tcpListener) Accept() (net.Conn, error) {
	nc, err := l.acceptRetrying()
	if err != nil {
		l.r.stopped(&l.state, err)
		return nil, err
	}
	remote, _ := addrPortOf(nc.RemoteAddr())
	c := &tcpConn{Conn: nc, l: l, remote: remote, br: bufio.NewReaderSize(nc, 8192), fbuf: make([]byte, maxTCPFrame)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = nc.Close()
		l.state.stop(net.ErrClosed)
		return nil, net.ErrClosed
	}
	l.conns[c] = struct{}{}
	return c, nil
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
type tcpConn struct {
	net.Conn
	l      *tcpListener
	remote netip.AddrPort
	br     *bufio.Reader
	fbuf   []byte
	held   bool // reader only

	rc      atomic.Pointer[relayConn]
	bindMu  sync.Mutex
	pending *pendingBind

	writeMu   sync.Mutex
	closeOnce sync.Once
}

var (
	_ net.Conn   = (*tcpConn)(nil)
	_ clientLink = (*tcpConn)(nil)
)

var errFrame = errors.New("not a TURN frame")

// maxTCPFrame is the largest frame on a stream: a STUN header and the
// largest length its 16-bit field can state.
const maxTCPFrame = 20 + 65535

// readFrame reads one STUN message or ChannelData message (with its
// padding) into c.fbuf.
func (c *tcpConn) readFrame() ([]byte, error) {
	hdr, err := c.br.Peek(4)
	if err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	switch hdr[0] & 0xC0 {
	case 0x00:
		size += 20
	case 0x40:
		size = 4 + (size+3)&^3
	default:
		return nil, fmt.Errorf("%w: first byte %#x", errFrame, hdr[0])
	}
	if size > len(c.fbuf) {
		return nil, fmt.Errorf("%w: %d-byte frame", errFrame, size)
	}
	if _, err := io.ReadFull(c.br, c.fbuf[:size]); err != nil {
		return nil, err
	}
	return c.fbuf[:size], nil
}

// Read hands pion one frame. ChannelData of bound channels is relayed
// here; refused Allocate requests are answered here.
func (c *tcpConn) Read(p []byte) (int, error) {
	if c.held {
		c.held = false
		c.l.gate.release()
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		if f[0]&0xC0 == 0x40 {
			if rc := c.rc.Load(); rc != nil && forwardChannelData(rc, f) {
				continue
			}
			if len(f) > len(p) {
				return 0, fmt.Errorf("%w: %d-byte frame", errFrame, len(f))
			}
			return copy(p, f), nil
		}
		v := c.l.r.inspect(f, c.remote, c.l.state.transport, c.rc.Load() != nil)
		if v.reply != nil {
			if _, err := c.Write(v.reply); err != nil {
				return 0, err
			}
			continue
		}
		if !v.pass {
			continue
		}
		if v.msg != nil {
			f = v.msg
		}
		if len(f) > len(p) {
			return 0, fmt.Errorf("%w: %d-byte frame", errFrame, len(f))
		}
		if v.bind != nil {
			c.bindMu.Lock()
			c.pending = v.bind
			c.bindMu.Unlock()
		}
		if v.hold {
			c.l.gate.hold(v.user, c.remote, c)
			c.held = true
		}
		return copy(p, f), nil
	}
}

// Write sends one frame of pion's. Peer data pion relays itself (Data
// indications, ChannelData) is counted here; a ChannelBind success commits
// the binding.
func (c *tcpConn) Write(p []byte) (int, error) {
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

// write sends one frame under a deadline, so a client that stops reading
// cannot stall the writer.
func (c *tcpConn) write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(defaultTCPWriteTimeout))
	return c.Conn.Write(p)
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
	})
	return err
}

// writeToClient is the fast path's write: it counts its own frames, so it
// bypasses Write's accounting.
func (c *tcpConn) writeToClient(b []byte, _ netip.AddrPort) error {
	_, err := c.write(b)
	return err
}

func (c *tcpConn) stream() bool { return true }

func (c *tcpConn) attach(_ netip.AddrPort, rc *relayConn) { c.rc.Store(rc) }

func (c *tcpConn) detach(_ netip.AddrPort, rc *relayConn) { c.rc.CompareAndSwap(rc, nil) }
