package relay

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/stun"
)

// rawClient speaks TURN with hand-built pion/stun messages, over UDP or a
// stream, so tests see the relay's exact answers.
type rawClient struct {
	t          *testing.T
	conn       net.Conn
	stream     bool
	user, pass string
	realm      string
	nonce      stun.Nonce
}

func newRawClient(t *testing.T, network, local, server, user, pass string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if network == "tcp" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	} else {
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial(network, server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, stream: network == "tcp", user: user, pass: pass, realm: "support.example.com"}
}

// read returns the next STUN message, skipping ChannelData.
func (c *rawClient) read() (*stun.Message, error) {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var raw []byte
		if c.stream {
			hdr := make([]byte, 4)
			if _, err := io.ReadFull(c.conn, hdr); err != nil {
				return nil, err
			}
			n := int(binary.BigEndian.Uint16(hdr[2:4]))
			if hdr[0]&0xC0 == 0x40 {
				if _, err := io.CopyN(io.Discard, c.conn, int64((n+3)&^3)); err != nil {
					return nil, err
				}
				continue
			}
			raw = append(hdr, make([]byte, 16+n)...)
			if _, err := io.ReadFull(c.conn, raw[4:]); err != nil {
				return nil, err
			}
		} else {
			buf := make([]byte, 2048)
			n, err := c.conn.Read(buf)
			if err != nil {
				return nil, err
			}
			if n >= 4 && buf[0]&0xC0 == 0x40 {
				continue
			}
			raw = buf[:n]
		}
		m := &stun.Message{Raw: raw}
		if err := m.Decode(); err != nil {
			return nil, err
		}
		return m, nil
	}
}

func (c *rawClient) roundTrip(setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	req := stun.MustBuild(setters...)
	if _, err := c.conn.Write(req.Raw); err != nil {
		c.t.Fatal(err)
	}
	for {
		m, err := c.read()
		if err != nil {
			c.t.Fatal(err)
		}
		if m.TransactionID == req.TransactionID {
			return m
		}
	}
}

// request sends a signed request of method, fetching a nonce first when
// it has none, and returns the answer.
func (c *rawClient) request(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	if c.nonce == nil {
		res := c.roundTrip(append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, append(attrs, stun.Fingerprint)...)...)
		if err := c.nonce.GetFrom(res); err != nil {
			c.t.Fatalf("first answer to %v carries no nonce: %v", method, err)
		}
	}
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), c.nonce,
		stun.NewLongTermIntegrity(c.user, c.realm, c.pass), stun.Fingerprint)
	return c.roundTrip(setters...)
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

type xorPeer struct{ ip string }

func (p xorPeer) AddTo(m *stun.Message) error {
	a := stun.XORMappedAddress{IP: net.ParseIP(p.ip).To4(), Port: 9}
	return a.AddToAs(m, stun.AttrXORPeerAddress)
}

func channelAttr(n uint16) stun.Setter {
	return stun.RawAttribute{Type: attrChannelNumber, Value: []byte{byte(n >> 8), byte(n), 0, 0}}
}

// errorCode is the answer's error code, 0 for a success.
func errorCode(t *testing.T, m *stun.Message) stun.ErrorCode {
	t.Helper()
	if m.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil {
		if errors.Is(err, stun.ErrAttributeNotFound) {
			return -1
		}
		t.Fatal(err)
	}
	return ec.Code
}

type xorPeerAt struct {
	ip   string
	port int
}

func (p xorPeerAt) AddTo(m *stun.Message) error {
	a := stun.XORMappedAddress{IP: net.ParseIP(p.ip).To4(), Port: p.port}
	return a.AddToAs(m, stun.AttrXORPeerAddress)
}
