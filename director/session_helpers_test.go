package director

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v2"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
	"github.com/meridian-traffic/meridian/relay"
)

const testClientToken = "client-token-5a4b3c2d1e0f"

// twoNodeSite is a site of nodes a and b whose relays listen on ipA and
// ipB (health-checked there over TCP) and whose prefixes send custA to a
// and repB to b.
func twoNodeSite(ipA, custA, ipB, repB string) string {
	return fmt.Sprintf(testkit.SiteHead("t", "z.example.", "127.0.0.1:1", testkit.TCPHealth,
		"relay: {udp_port: 3478, tcp_port: 3478, port_min: 41000, port_max: 41999}")+`  - name: a
    hostname: a.z.example.
    ipv4: %[1]s
    internal: "%[1]s:3478"
    prefixes: [%[2]s/32]
  - name: b
    ipv4: %[3]s
    internal: "%[3]s:3478"
    prefixes: [%[4]s/32]
`, ipA, custA, ipB, repB)
}

// httpFrom is an HTTP client whose connections come from the loopback
// address ip, so the director sees ip as the source.
func httpFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil}, Timeout: 20 * time.Second}
}

// sessionsFrom is a session client of h that connects from ip.
func (h *harness) sessionsFrom(ip string) *client.SessionClient {
	return client.NewSessionClient(h.base, testClientToken, httpFrom(ip))
}

// raw sends a session API request from ip with token ("" for none) and
// returns the status and the decoded error message, if any.
func (h *harness) raw(ip, method, path, token, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := httpFrom(ip)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error
}

// startSessionRelay runs a relay of the test site on ip until the test
// ends or the returned stop is called.
func startSessionRelay(t *testing.T, ip string, psk cluster.PSK) (*relay.Relay, func()) {
	t.Helper()
	r, err := relay.New(relay.Config{
		Address: netip.MustParseAddr(ip),
		Realm:   "z.example.",
		Secrets: [][]byte{cluster.RelaySecret(psk)},
		Relay:   cluster.Relay{UDPPort: 3478, TCPPort: 3478, TLSPort: -1, PortMin: 41000, PortMax: 41999},
	})
	if err != nil {
		t.Fatalf("relay on %s: %v", ip, err)
	}
	run := testkit.Go(t, "relay "+ip, 10*time.Second, r.Run)
	return r, func() { _ = run.Stop() }
}

// turnClient is a pion TURN client with one allocation.
type turnClient struct {
	client  *turn.Client
	conn    net.PacketConn
	relayed net.PacketConn
}

// allocate connects from local to the grant's relay over network ("udp"
// or "tcp"), at the relay's first address and the port of its turn: URI
// for that transport.
func allocate(t *testing.T, network, local string, g api.Relay) *turnClient {
	t.Helper()
	if len(g.Addresses) == 0 {
		t.Fatalf("grant for %s has no address: %+v", g.Node, g)
	}
	port := 0
	for _, u := range g.URIs {
		if strings.HasSuffix(u, "?transport="+network) && strings.HasPrefix(u, "turn:") {
			fmt.Sscanf(u, "turn:"+g.Host+":%d?", &port)
		}
	}
	if port == 0 {
		t.Fatalf("grant for %s has no turn: URI over %s: %q", g.Node, network, g.URIs)
	}
	server := netip.AddrPortFrom(g.Addresses[0], uint16(port)).String()
	var conn net.PacketConn
	if network == "tcp" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", server)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	} else {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(local, "0"))
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server,
		Username: g.Username, Password: g.Password,
		Conn: conn, RTO: 200 * time.Millisecond, LoggerFactory: lf,
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	tc := &turnClient{client: c, conn: conn}
	t.Cleanup(tc.close)
	if err := c.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if tc.relayed, err = c.Allocate(); err != nil {
		t.Fatalf("allocate on %s (%s over %s) from %s: %v", g.Node, server, network, local, err)
	}
	return tc
}

func (c *turnClient) close() {
	if c.relayed != nil {
		c.relayed.Close()
	}
	c.client.Close()
	c.conn.Close()
}

// stream sends n numbered packets of size bytes from one client's
// allocation to another's on the same relay, at most a window in flight,
// and checks that every one arrives once, in order and intact.
func stream(from, to *turnClient, n, size int) error {
	if err := to.client.CreatePermission(from.relayed.LocalAddr()); err != nil {
		return fmt.Errorf("create permission: %w", err)
	}
	return testkit.Stream(from.relayed, to.relayed, n, size)
}

// heartbeat posts node's heartbeat with its relay's accounting.
func (h *harness) heartbeat(node string, r *relay.Relay) {
	h.t.Helper()
	hb := api.Heartbeat{Node: node}
	r.Stats().FillHeartbeat(&hb)
	body, err := json.Marshal(hb)
	if err != nil {
		h.t.Fatal(err)
	}
	if code, b := h.do(h.signed(http.MethodPost, api.PathHeartbeat, body, time.Now(), nonce(), h.psk)); code != http.StatusNoContent {
		h.t.Fatalf("heartbeat %s: status %d: %s", node, code, b)
	}
}

// gauge reads one unlabelled gauge of the harness registry.
func (h *harness) gauge(name string) float64 {
	h.t.Helper()
	return testkit.Metric(h.t, h.reg, name)
}

// health returns node's health in the director's current snapshot.
func (h *harness) health(node string) cluster.Health {
	return h.d.pub.Current().Snap.Node(node).Health
}
