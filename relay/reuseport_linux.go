package relay

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort: several UDP sockets may share the listener port.
const reusePort = true

// listenUDP binds a UDP socket, with SO_REUSEPORT when several sockets
// share the port: the kernel then spreads clients over them by address
// hash, one reader goroutine each, and keeps each client on one socket.
func listenUDP(network, addr string, reuse bool) (*net.UDPConn, error) {
	lc := net.ListenConfig{}
	if reuse {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}
