package relay

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// alternateSite: node a (this relay, drained) is first; b is the first
// other node, the one a "first up node" rule would name; c holds the
// loopback prefix, so the engine sends loopback clients there, on its own
// ports; d is a secondary.
func alternateSite(t *testing.T, cDown bool) (*cluster.Snapshot, *cluster.Node) {
	t.Helper()
	nodes := `  - {name: a, ipv4: 127.0.0.64, internal: "127.0.0.64:7801", relay: {udp_port: 3495, tcp_port: 3495, tls_port: 5395}}
  - {name: b, ipv4: 192.0.2.12, internal: "192.0.2.12:7801"}
  - {name: c, ipv4: 192.0.2.13, internal: "192.0.2.13:7801", prefixes: [127.0.0.0/8], relay: {udp_port: 3600, tcp_port: 3601, tls_port: 5601}}
  - {name: d, ipv4: 192.0.2.14, internal: "192.0.2.14:7801", secondary: true}
`
	cHealth := cluster.Up
	if cDown {
		cHealth = cluster.Down
	}
	return testSnapshot(t, nodes,
		cluster.NodeState{Name: "a", Health: cluster.Up, Drained: true},
		cluster.NodeState{Name: "b", Health: cluster.Up},
		cluster.NodeState{Name: "c", Health: cHealth},
		cluster.NodeState{Name: "d", Health: cluster.Up})
}

// engineChoice is the node the site's engine picks for client.
func engineChoice(snap *cluster.Snapshot, client netip.Addr) *cluster.Node {
	var d cluster.Decision
	cluster.NewEngine(snap, nil).Select(cluster.Query{Client: client, SourceBits: client.BitLen(), Now: time.Now()}, &d)
	if d.N == 0 {
		return nil
	}
	return d.Nodes[0]
}

// allocateRaw asks for an allocation over conn, a stream or not, with a
// credential for user "late" (rawClient.request: first without, then
// with the nonce of the answer) and returns the second answer and the
// integrity it was signed with.
func allocateRaw(t *testing.T, conn net.Conn, stream bool) (*stun.Message, stun.MessageIntegrity) {
	t.Helper()
	u, p := cluster.RelayCredential(testSecret, "late", time.Now().Add(time.Hour))
	c := &rawClient{t: t, conn: conn, stream: stream, user: u, pass: p, realm: testRealm}
	return c.request(stun.MethodAllocate, udpTransport), stun.NewLongTermIntegrity(u, testRealm, p)
}

// TestDrainAlternateFromEngine: a drained relay answers 300 Try Alternate
// naming the node the selection engine picks for the client (not the
// first other node), on that node's port for the client's transport, and
// follows the next snapshot's health.
func TestDrainAlternateFromEngine(t *testing.T) {
	ctx := t.Context()
	cert := testkit.SelfSigned(t, "127.0.0.64")
	p := startPart(t, Config{CertFile: cert.CertFile, KeyFile: cert.KeyFile, UDPSockets: 1})

	dial := map[Transport]func() (net.Conn, error){
		TransportUDP: func() (net.Conn, error) { return net.Dial("udp4", "127.0.0.64:3495") },
		TransportTCP: func() (net.Conn, error) { return net.Dial("tcp4", "127.0.0.64:3495") },
		TransportTLS: func() (net.Conn, error) {
			return tls.Dial("tcp4", "127.0.0.64:5395", &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.64"})
		},
	}
	for _, step := range []struct {
		name  string
		cDown bool
		want  string
		ports map[Transport]int
	}{
		{"prefix node up", false, "c", map[Transport]int{TransportUDP: 3600, TransportTCP: 3601, TransportTLS: 5601}},
		{"prefix node down", true, "b", map[Transport]int{TransportUDP: cluster.DefaultTURNPort, TransportTCP: cluster.DefaultTURNPort, TransportTLS: cluster.DefaultTURNSPort}},
	} {
		snap, self := alternateSite(t, step.cDown)
		p.Apply(ctx, snap, self)
		if r := p.Relay(); r == nil || !r.Draining() {
			t.Fatalf("%s: relay not draining", step.name)
		}
		for _, tr := range []Transport{TransportUDP, TransportTCP, TransportTLS} {
			conn, err := dial[tr]()
			if err != nil {
				t.Fatalf("%s over %s: %v", step.name, tr, err)
			}
			res, _ := allocateRaw(t, conn, tr != TransportUDP)
			local, _ := netip.ParseAddrPort(conn.LocalAddr().String())
			_ = conn.Close()

			var code stun.ErrorCodeAttribute
			if err := code.GetFrom(res); err != nil || code.Code != stun.CodeTryAlternate {
				t.Fatalf("%s over %s: answer %v, code %v (%v), want 300", step.name, tr, res, code, err)
			}
			var alt stun.AlternateServer
			if err := alt.GetFrom(res); err != nil {
				t.Fatalf("%s over %s: no alternate: %v", step.name, tr, err)
			}
			chosen := engineChoice(snap, local.Addr())
			if chosen == nil || chosen.Name != step.want {
				t.Fatalf("%s: the engine picks %v for %s, the test expects %s", step.name, chosen, local.Addr(), step.want)
			}
			got := fmt.Sprintf("%s:%d", alt.IP, alt.Port)
			want := fmt.Sprintf("%s:%d", chosen.IPv4, step.ports[tr])
			if got != want {
				t.Errorf("%s over %s: alternate %s, want %s (node %s)", step.name, tr, got, want, chosen.Name)
			}
		}
	}
}

// TestAlternatesExcludeSelf: the relay's own node is never its alternate,
// even when the snapshot still counts it accepting; with no other node
// there is none.
func TestAlternatesExcludeSelf(t *testing.T) {
	snap, _ := alternateSite(t, false)
	snap.Nodes[0].Drained = false
	for _, n := range []string{"b", "c", "d"} {
		for i := range snap.Nodes {
			if snap.Nodes[i].Name == n {
				snap.Nodes[i].Drained = true
			}
		}
	}
	choose := alternates(snap, "a", nil)
	if ap, ok := choose(mustAddr("127.0.0.1"), TransportUDP); ok {
		t.Errorf("alternate %s with every other node drained", ap)
	}
	if ap, ok := choose(mustAddr("2001:db8::1"), TransportUDP); ok {
		t.Errorf("IPv6 client: alternate %s, none has IPv6", ap)
	}
}
