package relay

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/cluster"
)

// FuzzInspect feeds arbitrary datagrams to the request inspection the
// listeners run before pion: it must never panic.
func FuzzInspect(f *testing.F) {
	u, p := cluster.RelayCredential(testSecret, "fuzz", time.Now().Add(time.Hour))
	integrity := stun.NewLongTermIntegrity(u, "support.example.com", p)
	seeds := []*stun.Message{
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
			stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
			stun.NewUsername(u), stun.NewRealm("support.example.com"), stun.NewNonce("n"), integrity, stun.Fingerprint),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
			stun.RawAttribute{Type: attrChannelNumber, Value: []byte{0x40, 0, 0, 0}},
			&stun.XORMappedAddress{IP: []byte{8, 8, 8, 8}, Port: 9}, stun.NewUsername(u), integrity),
		stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
			stun.RawAttribute{Type: attrLifetime, Value: []byte{0, 0, 0x1c, 0x20}}, stun.NewUsername(u), integrity),
	}
	for _, m := range seeds {
		f.Add(m.Raw)
	}
	f.Add([]byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4})
	cfg, err := Config{Address: mustAddr("192.0.2.1"), Realm: "support.example.com", Secrets: [][]byte{testSecret},
		Relay: cluster.DefaultRelay(), MaxLifetime: 10 * time.Minute}.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	r := newRelay(cfg)
	client := netip.MustParseAddrPort("192.0.2.9:4000")
	f.Fuzz(func(t *testing.T, b []byte) {
		r.inspect(b, client, TransportUDP, false)
		r.inspect(b, client, TransportTCP, true)
		// The TCP framer must not panic either.
		c := &tcpConn{Conn: readerConn{r: bytes.NewReader(b)}}
		for {
			if _, err := c.readFrame(); err != nil {
				break
			}
			c.settle()
		}
		c.dropBuf()
	})
}

func TestDataIndicationPayload(t *testing.T) {
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodData, stun.ClassIndication),
		&stun.XORMappedAddress{IP: []byte{8, 8, 8, 8}, Port: 9}, stun.RawAttribute{Type: stun.AttrData, Value: make([]byte, 37)})
	if n, ok := dataIndicationPayload(m.Raw); !ok || n != 37 {
		t.Errorf("payload %d, %v; want 37", n, ok)
	}
	for _, bad := range [][]byte{nil, m.Raw[:24], m.Raw[:len(m.Raw)-8]} {
		if n, ok := dataIndicationPayload(bad); ok {
			t.Errorf("truncated indication gave %d", n)
		}
	}
}

// readerConn is a net.Conn that reads from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
