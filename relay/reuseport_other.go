//go:build !linux

package relay

import (
	"net"
)

// reusePort: one UDP socket serves the listener port.
const reusePort = false

// listenUDP binds one UDP socket.
func listenUDP(network, addr string, _ bool) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP(network, ua)
}
