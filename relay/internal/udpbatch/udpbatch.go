// Package udpbatch reads and writes batches of UDP datagrams with one
// system call (recvmmsg and sendmmsg on Linux) and without allocating per
// call or per datagram. Elsewhere it falls back to one datagram per call.
package udpbatch

import (
	"net"
	"net/netip"
)

// Msg is one datagram: Buf is its buffer (the payload to send, or the room
// to read into), N the bytes read, Addr the source read or the destination
// to send to.
type Msg struct {
	Buf  []byte
	N    int
	Addr netip.AddrPort
}

// MaxBatch is the most datagrams one call moves.
const MaxBatch = 64

// Batch is the system call scratch for moving up to MaxBatch datagrams,
// and, for reads, the datagrams themselves. A Batch is used by one
// goroutine at a time.
type Batch struct {
	// Msgs are the read buffers: Read fills Msgs[:n].
	Msgs []Msg
	sys  sysBatch
}

// NewBatch returns a Batch with n read buffers (at most MaxBatch), buffer
// i being buf(i); with n == 0 it serves writes only.
func NewBatch(n int, buf func(i int) []byte) *Batch {
	n = min(n, MaxBatch)
	b := &Batch{Msgs: make([]Msg, n)}
	for i := range b.Msgs {
		b.Msgs[i].Buf = buf(i)
	}
	b.sys.init(b)
	return b
}

// Conn is a UDP socket read and written in batches. Any number of
// goroutines may use it, each with its own Batch.
type Conn struct {
	udp *net.UDPConn
	sys sysConn
}

// New wraps conn.
func New(conn *net.UDPConn) (*Conn, error) {
	c := &Conn{udp: conn}
	if err := c.sys.init(conn); err != nil {
		return nil, err
	}
	return c, nil
}

// Read reads at least one datagram into b.Msgs, waiting for it, and at
// most len(b.Msgs) of those already queued; it returns how many it read.
// A datagram larger than its buffer is truncated to it: N == len(Buf).
// Source addresses of IPv4 datagrams on an IPv6 socket come back as
// IPv4-mapped addresses.
func (c *Conn) Read(b *Batch) (int, error) {
	return c.sys.read(c.udp, b)
}

// ReadLent is Read into a batch lent by lend only once datagrams are
// queued: a socket that waits holds no buffers. A batch lent but not
// filled goes back through giveBack. The filled batch is the caller's,
// to give back when done with it. lend and giveBack are called on the
// calling goroutine.
func (c *Conn) ReadLent(lr *LentRead) (*Batch, int, error) {
	return c.sys.readLent(c.udp, lr)
}

// LentRead holds the lender of ReadLent and the state of one reading
// goroutine; it is used by one goroutine at a time.
type LentRead struct {
	Lend     func() *Batch
	GiveBack func(*Batch)
	state    lentState
}

// Write sends ms[i].Buf to ms[i].Addr in order, using b's scratch. It
// returns how many it sent: when that is less than len(ms), the error is
// that of ms[n], which was not sent, and the caller decides whether to go
// on with ms[n+1:].
func (c *Conn) Write(b *Batch, ms []Msg) (int, error) {
	done := 0
	for done < len(ms) {
		end := min(len(ms), done+MaxBatch)
		n, err := c.sys.write(c.udp, b, ms[done:end])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
