package relay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// dataIndication builds a Data indication carrying n payload bytes.
func dataIndication(n int) []byte {
	padded := (n + 3) &^ 3
	m := make([]byte, 20+4+padded)
	binary.BigEndian.PutUint16(m[0:2], typeDataIndication)
	binary.BigEndian.PutUint16(m[2:4], uint16(4+padded))
	binary.BigEndian.PutUint32(m[4:8], 0x2112A442)
	binary.BigEndian.PutUint16(m[20:22], attrData)
	binary.BigEndian.PutUint16(m[22:24], uint16(n))
	return m
}

// channelData builds a ChannelData message on channel 0x4000 stating n
// payload bytes and holding have, padded as pion pads it.
func channelData(n, have int) []byte {
	m := make([]byte, 4+(have+3)&^3)
	binary.BigEndian.PutUint16(m[0:2], 0x4000)
	binary.BigEndian.PutUint16(m[2:4], uint16(n))
	return m
}

// bindSuccess builds a ChannelBind success response.
func bindSuccess() []byte {
	m := make([]byte, 20)
	binary.BigEndian.PutUint16(m[0:2], typeChannelBindSuccess)
	binary.BigEndian.PutUint32(m[4:8], 0x2112A442)
	return m
}

// pionWrites is what pion may write to a client, and what of it is peer
// data to count "to client". ChannelData reaches pion's write when pion
// holds a channel the fast path does not yet (or no longer) hold.
var pionWrites = []struct {
	name           string
	msg            []byte
	bytes, packets uint64
}{
	{"data indication", dataIndication(1000), 1000, 1},
	{"channel data", channelData(1000, 1000), 1000, 1},
	{"odd channel data", channelData(999, 999), 999, 1},
	{"channel data shorter than stated", channelData(1000, 10), 0, 0},
	{"channel bind success", bindSuccess(), 0, 0},
}

func TestPionWritesCountedUDP(t *testing.T) {
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.50:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.51:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	to := cli.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, tc := range pionWrites {
		t.Run(tc.name, func(t *testing.T) {
			l := newUDPListener(nil, srv)
			c := &relayConn{}
			l.attach(to, c)
			if _, err := l.WriteTo(tc.msg, cli.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			if s := c.stats(); s.ToClientBytes != tc.bytes || s.ToClientPackets != tc.packets {
				t.Errorf("to client %d bytes/%d packets, want %d/%d", s.ToClientBytes, s.ToClientPackets, tc.bytes, tc.packets)
			}
		})
	}
}

func TestPionWritesCountedTCP(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.50:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := newTCPListener(newRelay(Config{}), ln)
	for _, tc := range pionWrites {
		t.Run(tc.name, func(t *testing.T) {
			cli, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			// The listener hands out a connection once it sent something.
			if _, err := cli.Write([]byte{0, 1, 0, 0}); err != nil {
				t.Fatal(err)
			}
			nc, err := tl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			conn := nc.(*tcpConn)
			defer conn.Close()
			c := &relayConn{}
			conn.attach(netip.AddrPort{}, c)
			// Detached before the deferred Close, which would end a
			// real allocation.
			defer conn.detach(netip.AddrPort{}, c)
			if _, err := conn.Write(tc.msg); err != nil {
				t.Fatal(err)
			}
			if s := c.stats(); s.ToClientBytes != tc.bytes || s.ToClientPackets != tc.packets {
				t.Errorf("pion write: to client %d bytes/%d packets, want %d/%d", s.ToClientBytes, s.ToClientPackets, tc.bytes, tc.packets)
			}
			// The fast path counts its own frames: its write must not
			// count them again.
			if err := conn.writeToClient(tc.msg, netip.AddrPort{}); err != nil {
				t.Fatal(err)
			}
			if s := c.stats(); s.ToClientBytes != tc.bytes || s.ToClientPackets != tc.packets {
				t.Errorf("after fast-path write: to client %d bytes/%d packets, want %d/%d", s.ToClientBytes, s.ToClientPackets, tc.bytes, tc.packets)
			}
		})
	}
}
