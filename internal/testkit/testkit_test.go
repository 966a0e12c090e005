package testkit_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	testkit.Eventually(t, time.Second, "three calls", func() bool { return n.Add(1) >= 3 })
	start := time.Now()
	if testkit.Poll(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll of a false condition held")
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("Poll gave up after %s, want about 50ms", d)
	}
}

func TestSelfSigned(t *testing.T) {
	c := testkit.SelfSigned(t, "127.0.0.1", "node.example")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = c.ServerConfig()
	srv.StartTLS()
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c.ClientConfig()}, Timeout: 5 * time.Second}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatalf("client trusting the certificate: %v", err)
	}
	resp.Body.Close()
	if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		t.Errorf("files: %v", err)
	}
	if _, err := http.Get(srv.URL); err == nil {
		t.Error("a client without the certificate trusted it")
	}
}

func TestGo(t *testing.T) {
	r := testkit.Go(t, "waiter", time.Second, func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Done open after Stop")
	}
	quit := errors.New("quit")
	r = testkit.Go(t, "quitter", time.Second, func(context.Context) error { return quit })
	<-r.Done()
	if !errors.Is(r.Err(), quit) {
		t.Errorf("Err = %v", r.Err())
	}
}

func TestStream(t *testing.T) {
	a, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := testkit.Stream(a, b, 200, 500); err != nil {
		t.Fatal(err)
	}
}

func TestSites(t *testing.T) {
	for name, y := range map[string]string{
		"minimal": testkit.MinimalSite,
		"yaml":    testkit.SiteYAML("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"),
		"head":    testkit.SiteHead("lab", "lab.example.", "127.0.0.1:1", testkit.HTTPHealth) + "  - {name: n1, ipv4: 192.0.2.11, internal: \"127.0.0.1:2\"}\n",
	} {
		if _, err := cluster.Parse(name+".yaml", []byte(y)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.Contains(testkit.SiteYAML("m:1", "x:1", "y:1"), "name: b") {
		t.Error("SiteYAML lacks node b")
	}
}
