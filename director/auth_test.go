package director

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// TestAuthRefused: a wrong key, a timestamp outside ±30 s, a replayed
// nonce and a missing signature are refused with 401 and counted by
// reason; so is a wrong admin token.
func TestAuthRefused(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteYAML(closedAddr(t), closedAddr(t)))})
	wrong, err := cluster.NewPSK([]byte("another-psk-entirely-000000"))
	if err != nil {
		t.Fatal(err)
	}
	path := syncPath(0, "dns/a", api.KindDNS, time.Second)
	replayed := h.signed(http.MethodGet, path, nil, time.Now(), "nonce-used-twice", h.psk)
	if code, _ := h.do(replayed); code != http.StatusOK {
		t.Fatalf("first use of a nonce: %d", code)
	}
	unsigned, _ := http.NewRequest(http.MethodGet, h.base+path, nil)
	tampered := h.signed(http.MethodGet, path, nil, time.Now(), nonce(), h.psk)
	tampered.URL.RawQuery = strings.Replace(tampered.URL.RawQuery, "after=0", "after=1", 1)
	badToken, _ := http.NewRequest(http.MethodGet, h.base+api.PathStatus, nil)
	badToken.Header.Set("Authorization", "Bearer "+testToken+"x")
	noToken, _ := http.NewRequest(http.MethodGet, h.base+api.PathStatus, nil)
	pskAsAdmin := h.signed(http.MethodGet, api.PathStatus, nil, time.Now(), nonce(), h.psk)

	tests := []struct {
		name   string
		req    *http.Request
		reason string
	}{
		{"wrong psk", h.signed(http.MethodGet, path, nil, time.Now(), nonce(), wrong), "mac"},
		{"stale timestamp", h.signed(http.MethodGet, path, nil, time.Now().Add(-31*time.Second), nonce(), h.psk), "clock"},
		{"future timestamp", h.signed(http.MethodGet, path, nil, time.Now().Add(45*time.Second), nonce(), h.psk), "clock"},
		{"replayed nonce", h.signed(http.MethodGet, path, nil, time.Now(), "nonce-used-twice", h.psk), "replay"},
		{"no signature", unsigned, "missing"},
		{"tampered query", tampered, "mac"},
		{"wrong admin token", badToken, "token"},
		{"no admin token", noToken, "token"},
		{"psk signature on admin api", pskAsAdmin, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.counter("meridian_director_auth_refused_total", map[string]string{"reason": tt.reason})
			code, body := h.do(tt.req)
			if code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
			if !strings.Contains(string(body), `"error":"Unauthorized"`) {
				t.Errorf("body %s, want the generic refusal", body)
			}
			if after := h.counter("meridian_director_auth_refused_total", map[string]string{"reason": tt.reason}); after != before+1 {
				t.Errorf("refusals[%s] %v -> %v, want +1", tt.reason, before, after)
			}
		})
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsNotLogged runs a director at debug level through good and
// refused requests and checks that neither the PSK nor the admin token
// appears in its log or its answers.
func TestSecretsNotLogged(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := startDirector(t, Config{Logger: log, SiteData: []byte(siteYAML(closedAddr(t), closedAddr(t)))})
	wrong, _ := cluster.NewPSK([]byte(testPSK + "-wrong"))

	var answers strings.Builder
	record := func(code int, body []byte) { answers.Write(body) }
	record(h.do(h.signed(http.MethodGet, syncPath(0, "a", api.KindNode, time.Second), nil, time.Now(), nonce(), h.psk)))
	record(h.do(h.signed(http.MethodGet, syncPath(0, "a", api.KindNode, time.Second), nil, time.Now(), nonce(), wrong)))
	record(h.do(h.signed(http.MethodGet, syncPath(0, "a", api.KindNode, time.Second), nil, time.Now().Add(-time.Hour), nonce(), h.psk)))
	req, _ := http.NewRequest(http.MethodGet, h.base+api.PathStatus, nil)
	req.Header.Set("Authorization", "Bearer "+testToken+"-wrong")
	record(h.do(req))
	record(h.admin(http.MethodGet, api.PathStatus, nil))
	record(h.admin(http.MethodPost, api.PathConfig, []byte("site: [\n")))
	record(h.admin(http.MethodGet, "/metrics", nil))
	h.stop()

	out := logs.String()
	if !strings.Contains(out, "request refused") || !strings.Contains(out, "director serving") {
		t.Fatalf("the log does not show the run; captured:\n%s", out)
	}
	for _, secret := range []string{testPSK, testToken} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q found in the log", secret[:4]+"...")
		}
		if strings.Contains(answers.String(), secret) {
			t.Errorf("secret %q found in an answer", secret[:4]+"...")
		}
	}
}

// TestTLS serves the API over TLS with a certificate the client trusts.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	h := startDirector(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile, SiteData: []byte(siteYAML(closedAddr(t), closedAddr(t)))})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + h.d.Addr() + api.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ok" {
		t.Errorf("GET /healthz over TLS: %d %q", resp.StatusCode, b)
	}
	// Plain HTTP to a TLS port fails.
	if resp, err := http.Get("http://" + h.d.Addr() + api.PathHealth); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http served on the TLS port")
		}
	}
	if _, err := New(Config{Name: "x", Etcd: EtcdConfig{DataDir: dir}, PSK: h.psk, AdminToken: "t", TLSCertFile: certFile}); err == nil {
		t.Error("New accepted a certificate without a key")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and returns the pool that
// trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "director"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
