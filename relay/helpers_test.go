package relay

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v2"

	"github.com/meridian-traffic/meridian/cluster"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// startRelay runs a relay on ip with cfg's gaps filled, stopped at test end.
func startRelay(t *testing.T, ip string, cfg Config) *Relay {
	t.Helper()
	return startRelayWith(t, ip, cfg, nil)
}

// startRelayWith is startRelay with tune applied to the relay before Run.
func startRelayWith(t *testing.T, ip string, cfg Config, tune func(*Relay)) *Relay {
	t.Helper()
	cfg.Address = netip.MustParseAddr(ip)
	if cfg.Realm == "" {
		cfg.Realm = "support.example.com"
	}
	if cfg.Secrets == nil {
		cfg.Secrets = [][]byte{testSecret}
	}
	// A test gives only the relay settings it is about; the rest are the
	// site's defaults, as Parse would fill them.
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
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tune != nil {
		tune(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("relay did not stop")
		}
	})
	return r
}

// turnClient is a pion TURN client with an allocation on a relay.
type turnClient struct {
	client  *turn.Client
	conn    net.PacketConn
	relayed net.PacketConn
}

// dialClient allocates on server from a client socket bound to local.
func dialClient(t *testing.T, network, local, server, username, password string) (*turnClient, error) {
	t.Helper()
	var conn net.PacketConn
	var err error
	if network == "tcp" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, derr := d.Dial("tcp", server)
		if derr != nil {
			return nil, derr
		}
		conn = turn.NewSTUNConn(c)
	} else {
		conn, err = net.ListenPacket("udp4", net.JoinHostPort(local, "0"))
		if err != nil {
			return nil, err
		}
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       username,
		Password:       password,
		Conn:           conn,
		RTO:            200 * time.Millisecond,
		LoggerFactory:  pionLogs{log: discardLogger()},
	})
	if err != nil {
		conn.Close()
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

// mustClient allocates with a fresh valid credential for user.
func mustClient(t *testing.T, network, local, server, user string) *turnClient {
	t.Helper()
	u, p := cluster.RelayCredential(testSecret, user, time.Now().Add(time.Hour))
	c, err := dialClient(t, network, local, server, u, p)
	if err != nil {
		t.Fatalf("allocate as %s over %s: %v", user, network, err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newTestLogger logs everything as text into the returned writer.
func newTestLogger() (*slog.Logger, *lockedWriter) {
	w := &lockedWriter{w: &strings.Builder{}}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), w
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// relayPorts is the site's default relay block with its relay port range.
func relayPorts(minPort, maxPort int) cluster.Relay {
	r := cluster.DefaultRelay()
	r.PortMin, r.PortMax = minPort, maxPort
	return r
}
