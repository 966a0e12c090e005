package testkit_test

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestSelfSigned(t *testing.T) {
	c := testkit.SelfSigned(t, "127.0.0.1", "node.example")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = c.ServerConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client below fails the handshake
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
