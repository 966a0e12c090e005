//go:build !linux

package udpbatch

import "net"

type sysBatch struct{}

func (*sysBatch) init(*Batch) {}

type sysConn struct{}

func (*sysConn) init(*net.UDPConn) error { return nil }

type lentState struct{}

func (*sysConn) read(c *net.UDPConn, b *Batch) (int, error) {
	if len(b.Msgs) == 0 {
		return 0, nil
	}
	n, from, err := c.ReadFromUDPAddrPort(b.Msgs[0].Buf)
	if err != nil {
		return 0, err
	}
	b.Msgs[0].N, b.Msgs[0].Addr = n, from
	return 1, nil
}

// readLent holds the lent batch while it waits: there is no portable way
// to wait for a datagram without reading it.
func (s *sysConn) readLent(c *net.UDPConn, lr *LentRead) (*Batch, int, error) {
	b := lr.Lend()
	n, err := s.read(c, b)
	if err != nil {
		lr.GiveBack(b)
		return nil, 0, err
	}
	return b, n, nil
}

func (*sysConn) write(c *net.UDPConn, _ *Batch, ms []Msg) (int, error) {
	for i := range ms {
		if _, err := c.WriteToUDPAddrPort(ms[i].Buf, ms[i].Addr); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}
