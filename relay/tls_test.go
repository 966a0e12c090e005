package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// writeCert writes a self-signed certificate for ip and returns the files
// and a pool trusting it.
func writeCert(t *testing.T, ip string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay test"},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSListener(t *testing.T) {
	const ip = "127.0.0.38"
	certFile, keyFile, pool := writeCert(t, ip)
	startRelay(t, ip, Config{CertFile: certFile, KeyFile: keyFile, Relay: cluster.Relay{TLSPort: 5350}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Probe(ctx, ip+":5350", testSecret, ProbeOptions{Network: "tls", TLSConfig: &tls.Config{RootCAs: pool}}); err != nil {
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
	cfg := Config{Realm: "support.example.com", Secrets: [][]byte{testSecret}, Relay: cluster.DefaultRelay()}
	cfg.Address = mustAddr("127.0.0.40")
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
