// Package clienttest starts a real director (embedded etcd in a temporary
// directory, API on a loopback port) for the tests of its subscribers: the
// client package, the node agent and `meridian ctl`.
package clienttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
	"github.com/meridian-traffic/meridian/internal/testkit"
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
	b.WriteString(testkit.SiteHead(name, name+".example.", "127.0.0.1:1", testkit.HTTPHealth))
	for i, n := range nodes {
		ip := n.IPv4
		if ip == "" {
			ip = fmt.Sprintf("192.0.2.%d", 11+i)
		}
		fmt.Fprintf(&b, "  - name: %s\n    ipv4: %s\n    internal: %q\n    region: r%d\n", n.Name, ip, n.Internal, i%2)
	}
	return []byte(b.String())
}

// Director is a running test director.
type Director struct {
	*director.Director
	URL       string
	PSK       cluster.PSK
	PSKFile   string // holds PSKText
	TokenFile string // holds Token
	CAFile    string // with WithTLS: the CA certificate (PEM)
	Logs      *testkit.Buffer

	cfg     director.Config
	mu      sync.Mutex // serialises Stop and Restart
	run     *testkit.Running
	stopped bool
}

// Option changes how Start runs the director.
type Option func(t testing.TB, dir string, d *Director, cfg *director.Config)

// WithTLS serves the API over TLS with a certificate for 127.0.0.1 signed
// by a fresh CA, whose PEM file is in Director.CAFile.
func WithTLS() Option {
	return func(t testing.TB, dir string, d *Director, cfg *director.Config) {
		t.Helper()
		c := testkit.SelfSigned(t, "127.0.0.1")
		d.CAFile, cfg.TLSCertFile, cfg.TLSKeyFile = c.CertFile, c.CertFile, c.KeyFile
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
	d := &Director{PSK: psk, PSKFile: filepath.Join(dir, "psk"), TokenFile: filepath.Join(dir, "token"), Logs: &testkit.Buffer{}}
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
		Logger:     d.Logs.Logger(),
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
	d.run, d.stopped = testkit.Go(t, "director", 20*time.Second, d.Director.Run), false
	select {
	case <-d.Ready():
	case <-d.run.Done():
		t.Fatalf("director stopped before it was ready: %v", d.run.Err())
	case <-time.After(30 * time.Second):
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
	_ = d.run.Stop()
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

// NoSecrets fails the test if a secret of the test director is in s.
func NoSecrets(t testing.TB, what, s string) {
	t.Helper()
	for _, secret := range []string{PSKText, Token} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret appears in %s", what)
		}
	}
}
