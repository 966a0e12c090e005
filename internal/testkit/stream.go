package testkit

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Stream sends n packets of size bytes (at least 4) from from to
// to.LocalAddr(), each numbered and filled with a pattern, with at most a
// window of 32 in flight, and checks that to receives every one once, in
// order and intact, each within 5 s. Whatever the path needs first (a
// TURN permission, say) is the caller's.
func Stream(from, to net.PacketConn, n, size int) error {
	var got atomic.Int64
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for i := range n {
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, _, err := to.ReadFrom(buf)
			if err != nil {
				errc <- fmt.Errorf("packet %d: %w", i, err)
				return
			}
			if m != size {
				errc <- fmt.Errorf("packet %d: %d bytes, want %d", i, m, size)
				return
			}
			if seq := binary.BigEndian.Uint32(buf); seq != uint32(i) {
				errc <- fmt.Errorf("packet %d arrived as number %d", i, seq)
				return
			}
			for j := 4; j < m; j++ {
				if buf[j] != byte(i+j) {
					errc <- fmt.Errorf("packet %d: byte %d corrupted", i, j)
					return
				}
			}
			got.Add(1)
		}
		errc <- nil
	}()
	dst := to.LocalAddr()
	pkt := make([]byte, size)
	const window = 32
	for i := range n {
		binary.BigEndian.PutUint32(pkt, uint32(i))
		for j := 4; j < size; j++ {
			pkt[j] = byte(i + j)
		}
		if _, err := from.WriteTo(pkt, dst); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		// Keep at most a window in flight: loopback drops nothing but
		// a full socket buffer.
		for deadline := time.Now().Add(5 * time.Second); int64(i)-got.Load() >= window; {
			if time.Now().After(deadline) {
				return fmt.Errorf("receiver stalled at %d of %d", got.Load(), n)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	return <-errc
}
