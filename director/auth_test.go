package director

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestAuthRefused: a wrong key, a timestamp outside ±30 s, a replayed
// nonce and a missing signature are refused with 401 and counted by
// reason; so is a wrong admin token.
func TestAuthRefused(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 1))})
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
			before := h.counter("meridian_director_auth_refused_total", "reason", tt.reason)
			code, body := h.do(tt.req)
			if code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", code)
			}
			if !strings.Contains(string(body), `"error":"Unauthorized"`) {
				t.Errorf("body %s, want the generic refusal", body)
			}
			if after := h.counter("meridian_director_auth_refused_total", "reason", tt.reason); after != before+1 {
				t.Errorf("refusals[%s] %v -> %v, want +1", tt.reason, before, after)
			}
		})
	}
}

// TestSecretsNotLogged runs a director at debug level through good and
// refused requests and checks that neither the PSK nor the admin token
// appears in its log or its answers.
func TestSecretsNotLogged(t *testing.T) {
	log, logs := testkit.NewLogger()
	h := startDirector(t, Config{Logger: log, SiteData: []byte(siteDown(t, 1))})
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
	cert := testkit.SelfSigned(t, "127.0.0.1")
	certFile, keyFile := cert.CertFile, cert.KeyFile
	h := startDirector(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile, SiteData: []byte(siteDown(t, 1))})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.ClientConfig()}, Timeout: 10 * time.Second}
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
