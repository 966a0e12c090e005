// Package clienttest starts a real director (embedded etcd in a temporary
// directory, API on a loopback port) for the tests of its subscribers: the
// client package, the node agent and `meridian ctl`.
package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
)

// Secrets of the test director; tests assert they never appear in output.
const (
	PSKText = "clienttest-pre-shared-key-8d1f3b"
	Token   = "clienttest-admin-token-5c2e9a"
)

// Node is one traffic node of a test site.
type Node struct {
	Name     string
	Internal string // host:port of its agent's health endpoint
	// IPv4 is its public address, where its relay listens; empty: one
	// from 192.0.2.0/24, for tests that run no relay.
	IPv4 string
}

// Site returns a valid site file named name with the given nodes, probed
// over http every 250 ms with rise and fall 1 so that tests see state
// changes quickly.
func Site(name string, nodes ...Node) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `site: %s
zone: %s.example.
masters:
  primary: {name: m1, ipv4: 192.0.2.1, internal: "127.0.0.1:1"}
selection: {method: random}
health: {kind: http, path: /healthz, interval: 250ms, timeout: 200ms, rise: 1, fall: 1}
nodes:
`, name, name)
	for i, n := range nodes {
		ip := n.IPv4
		if ip == "" {
			ip = fmt.Sprintf("192.0.2.%d", 11+i)
		}
		fmt.Fprintf(&b, "  - name: %s\n    ipv4: %s\n    internal: %q\n    region: r%d\n", n.Name, ip, n.Internal, i%2)
	}
	return []byte(b.String())
}

// FreeAddr returns a loopback host:port where nothing listens now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Director is a running test director.
type Director struct {
	*director.Director
	URL       string
	PSK       cluster.PSK
	PSKFile   string // holds PSKText
	TokenFile string // holds Token
	CAFile    string // with WithTLS: the CA certificate (PEM)
	Logs      *Buffer

	cfg     director.Config
	mu      sync.Mutex // serialises Stop and Restart
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// Option changes how Start runs the director.
type Option func(t testing.TB, dir string, d *Director, cfg *director.Config)

// WithTLS serves the API over TLS with a certificate for 127.0.0.1 signed
// by a fresh CA, whose PEM file is in Director.CAFile.
func WithTLS() Option {
	return func(t testing.TB, dir string, d *Director, cfg *director.Config) {
		t.Helper()
		d.CAFile, cfg.TLSCertFile, cfg.TLSKeyFile = writeCerts(t, dir)
	}
}

// Start runs a director of the site until the test ends or Stop.
func Start(t testing.TB, site []byte, opts ...Option) *Director {
	t.Helper()
	dir := t.TempDir()
	psk, err := cluster.NewPSK([]byte(PSKText))
	if err != nil {
		t.Fatal(err)
	}
	d := &Director{PSK: psk, PSKFile: filepath.Join(dir, "psk"), TokenFile: filepath.Join(dir, "token"), Logs: &Buffer{}}
	for f, s := range map[string]string{d.PSKFile: PSKText, d.TokenFile: Token} {
		if err := os.WriteFile(f, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := director.Config{
		Name:       "d1",
		Listen:     "127.0.0.1:0",
		Etcd:       director.EtcdConfig{DataDir: filepath.Join(dir, "etcd")},
		SiteFile:   "site.yaml",
		SiteData:   site,
		PSK:        psk,
		AdminToken: Token,
		LagAfter:   time.Second,
		Logger:     slog.New(slog.NewTextHandler(d.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(t, dir, d, &cfg)
	}
	d.cfg = cfg
	d.start(t)
	d.URL = "http://" + d.Addr()
	if d.CAFile != "" {
		d.URL = "https://" + d.Addr()
	}
	t.Cleanup(func() { d.Stop(t) })
	return d
}

func (d *Director) start(t testing.TB) {
	t.Helper()
	var err error
	d.Director, err = director.New(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done, d.stopped = cancel, make(chan error, 1), false
	go func() { d.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-d.done:
		cancel()
		t.Fatalf("director stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("director not ready after 30s")
	}
}

// Stop stops the director and waits for it; it does nothing if stopped.
func (d *Director) Stop(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("director: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("director did not stop within 20s")
	}
}

// Restart starts a stopped director again on the same store and address.
func (d *Director) Restart(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		t.Fatal("Restart of a running director")
	}
	d.cfg.Listen = strings.TrimPrefix(strings.TrimPrefix(d.URL, "https://"), "http://")
	d.cfg.SiteData, d.cfg.SiteFile = nil, "" // the store has it
	d.start(t)
}

// RestartWithPSK starts a stopped director again, as Restart does, with
// another pre-shared key: its subscribers' keys turn right or wrong.
func (d *Director) RestartWithPSK(t testing.TB, key string) {
	t.Helper()
	psk, err := cluster.NewPSK([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.cfg.PSK, d.PSK = psk, psk
	d.mu.Unlock()
	d.Restart(t)
}

// Buffer is a bytes.Buffer safe for concurrent writers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitFor polls cond every 10 ms until it holds or d passes.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// NoSecrets fails the test if a secret of the test director is in s.
func NoSecrets(t testing.TB, what, s string) {
	t.Helper()
	for _, secret := range []string{PSKText, Token} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret appears in %s", what)
		}
	}
}
