package relay

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/cluster"
)

// TestRequestedAddressFamily: an Allocate asking for the relay's own
// family gets an address of it; one asking for the other family (or an
// unknown one) is answered 440 Address Family not Supported (RFC 8656
// section 7.2), where pion alone would hand out an address of the relay's
// family.
func TestRequestedAddressFamily(t *testing.T) {
	tests := []struct {
		name, relay string
		family      []byte
		want        int // 0: success
	}{
		{"ipv4 relay, ipv4 asked", "127.0.0.66", []byte{0x01, 0, 0, 0}, 0},
		{"ipv4 relay, ipv6 asked", "127.0.0.66", []byte{0x02, 0, 0, 0}, 440},
		{"ipv4 relay, unknown family", "127.0.0.66", []byte{0x07, 0, 0, 0}, 440},
		{"ipv6 relay, ipv4 asked", "::1", []byte{0x01, 0, 0, 0}, 440},
		{"ipv6 relay, ipv6 asked", "::1", []byte{0x02, 0, 0, 0}, 0},
	}
	startRelay(t, "127.0.0.66", Config{Relay: cluster.Relay{PortMin: 41100, PortMax: 41149}})
	ipv6 := true
	if l, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		ipv6 = false
	} else {
		l.Close()
		startRelay(t, "::1", Config{Relay: cluster.Relay{PortMin: 41150, PortMax: 41199}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.relay == "::1" && !ipv6 {
				t.Skip("no IPv6 loopback")
			}
			conn, err := net.Dial("udp", net.JoinHostPort(tc.relay, "3478"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			exchange := func(setters ...stun.Setter) *stun.Message {
				t.Helper()
				req := stun.MustBuild(setters...)
				buf := make([]byte, 1500)
				for range 5 {
					if _, err := conn.Write(req.Raw); err != nil {
						t.Fatal(err)
					}
					_ = conn.SetReadDeadline(time.Now().Add(time.Second))
					n, err := conn.Read(buf)
					if err != nil {
						continue // the relay may not serve yet
					}
					res := &stun.Message{Raw: buf[:n]}
					if err := res.Decode(); err != nil {
						t.Fatal(err)
					}
					return res
				}
				t.Fatal("no answer")
				return nil
			}
			allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
			transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
			family := stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: tc.family}
			res := exchange(stun.TransactionID, allocate, transport, family, stun.Fingerprint)
			var nonce stun.Nonce
			if err := nonce.GetFrom(res); err != nil {
				t.Fatalf("first answer carries no nonce: %v", err)
			}
			u, p := cluster.RelayCredential(testSecret, "fam", time.Now().Add(time.Hour))
			integrity := stun.NewLongTermIntegrity(u, "support.example.com", p)
			res = exchange(stun.TransactionID, allocate, transport, family,
				stun.NewUsername(u), stun.NewRealm("support.example.com"), nonce, integrity, stun.Fingerprint)
			var code stun.ErrorCodeAttribute
			if tc.want != 0 {
				if err := code.GetFrom(res); err != nil || int(code.Code) != tc.want {
					t.Fatalf("answer %v, code %v (%v), want %d", res, code, err, tc.want)
				}
				if err := integrity.Check(res); err != nil {
					t.Errorf("answer integrity: %v", err)
				}
				return
			}
			var relayed stun.XORMappedAddress
			if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
				t.Fatalf("answer %v: %v", res, err)
			}
			if got := relayed.IP.To4() != nil; got != (tc.family[0] == 0x01) {
				t.Errorf("relayed %s for family %#x", relayed, tc.family[0])
			}
		})
	}
}
