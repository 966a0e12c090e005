package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/turn/v2"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testRealm is the realm of the tests' relays.
const testRealm = "support.example.com"

// testConfig is cfg for a relay on ip with its gaps filled: the test realm
// and secret, and relay ports 40000-40999. A test gives only the relay
// settings it is about; the rest are the site's defaults, as Parse would
// fill them.
func testConfig(ip string, cfg Config) Config {
	cfg.Address = netip.MustParseAddr(ip)
	if cfg.Realm == "" {
		cfg.Realm = testRealm
	}
	if cfg.Secrets == nil {
		cfg.Secrets = [][]byte{testSecret}
	}
	def := cluster.DefaultRelay()
	for _, p := range []struct {
		v   *int
		def int
	}{
		{&cfg.Relay.UDPPort, def.UDPPort}, {&cfg.Relay.TCPPort, def.TCPPort}, {&cfg.Relay.TLSPort, def.TLSPort},
	} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	if cfg.Relay.PortMin == 0 {
		cfg.Relay.PortMin, cfg.Relay.PortMax = 40000, 40999
	}
	return cfg
}

// startRelay runs a relay on ip with cfg's gaps filled (testConfig) and
// tune applied to it before Run; the relay stops at the end of the test,
// which fails if Run fails or takes more than 5 s to return.
func startRelay(t *testing.T, ip string, cfg Config, tune ...func(*Relay)) *Relay {
	t.Helper()
	r, err := New(testConfig(ip, cfg))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range tune {
		f(r)
	}
	testkit.Go(t, "relay "+ip, 5*time.Second, r.Run)
	return r
}

// startPart makes a Part of cfg, with the test secret unless cfg has
// secrets, closed at the end of the test.
func startPart(t *testing.T, cfg Config) *Part {
	t.Helper()
	if cfg.Secrets == nil {
		cfg.Secrets = [][]byte{testSecret}
	}
	p, err := NewPart(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// testSnapshot parses a site t in zone support.example.com. with nodes
// (the lines of its nodes list) and returns its first snapshot, with the
// nodes in states (node a up alone when none is given), and node a.
func testSnapshot(t *testing.T, nodes string, states ...cluster.NodeState) (*cluster.Snapshot, *cluster.Node) {
	t.Helper()
	site, err := cluster.Parse("site.yaml", []byte(testkit.SiteHead("t", testRealm+".", "127.0.0.1:7700")+nodes))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) == 0 {
		states = []cluster.NodeState{{Name: "a", Health: cluster.Up}}
	}
	return &cluster.Snapshot{Format: cluster.SnapshotFormat, Site: "t", Version: 1, Config: site, Nodes: states}, site.Node("a")
}

// turnClient is a pion TURN client with an allocation on a relay.
type turnClient struct {
	client  *turn.Client
	conn    net.PacketConn
	relayed net.PacketConn
}

// dialClient allocates on server from a client socket bound to local, as
// Probe's client does.
func dialClient(t *testing.T, network, local, server, username, password string) (*turnClient, error) {
	t.Helper()
	opt := ProbeOptions{Network: network, LocalAddr: net.JoinHostPort(local, "0")}
	client, conn, err := dialTURN(context.Background(), server, opt, username, password)
	if err != nil {
		return nil, err
	}
	if err := client.Listen(); err != nil {
		client.Close()
		conn.Close()
		return nil, err
	}
	tc := &turnClient{client: client, conn: conn}
	t.Cleanup(tc.close)
	relayed, err := client.Allocate()
	if err != nil {
		return nil, err
	}
	tc.relayed = relayed
	return tc, nil
}

func (c *turnClient) close() {
	if c.relayed != nil {
		c.relayed.Close()
	}
	c.client.Close()
	c.conn.Close()
}

// dialUser allocates with a fresh valid credential for user.
func dialUser(t *testing.T, network, local, server, user string) (*turnClient, error) {
	t.Helper()
	u, p := cluster.RelayCredential(testSecret, user, time.Now().Add(time.Hour))
	return dialClient(t, network, local, server, u, p)
}

// mustClient allocates with a fresh valid credential for user.
func mustClient(t *testing.T, network, local, server, user string) *turnClient {
	t.Helper()
	c, err := dialUser(t, network, local, server, user)
	if err != nil {
		t.Fatalf("allocate as %s over %s: %v", user, network, err)
	}
	return c
}

// stream sends n packets of size bytes from from's relayed address to
// to's (testkit.Stream), after to permits from.
func stream(from, to *turnClient, n, size int) error {
	// TURN drops peer data without a permission: the receiver opens one
	// for the sender's relayed address first.
	if err := to.client.CreatePermission(from.relayed.LocalAddr()); err != nil {
		return fmt.Errorf("create permission: %w", err)
	}
	return testkit.Stream(from.relayed, to.relayed, n, size)
}

// udpSocket opens a UDP socket on addr, closed at the end of the test.
func udpSocket(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
