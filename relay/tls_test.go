package relay

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestTLSListener(t *testing.T) {
	const ip = "127.0.0.38"
	cert := testkit.SelfSigned(t, ip)
	startRelay(t, ip, Config{CertFile: cert.CertFile, KeyFile: cert.KeyFile, Relay: cluster.Relay{TLSPort: 5350}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Probe(ctx, ip+":5350", testSecret, ProbeOptions{Network: "tls", TLSConfig: cert.ClientConfig()}); err != nil {
		t.Fatalf("probe over TLS: %v", err)
	}
	// Without a certificate there is no TLS listener.
	startRelay(t, "127.0.0.39", Config{})
	if c, err := net.DialTimeout("tcp", "127.0.0.39:5349", time.Second); err == nil {
		c.Close()
		t.Error("TLS port open without a certificate")
	}
}

func TestCloseWithoutRun(t *testing.T) {
	cfg := testConfig("127.0.0.40", Config{Relay: cluster.DefaultRelay()})
	for range 2 {
		// The second New succeeds only if Close released the ports.
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); err != ErrClosed {
			t.Fatalf("Run after Close: %v, want ErrClosed", err)
		}
	}
}
