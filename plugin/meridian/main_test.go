package meridian

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/whoami"
)

// TestMain gives the test CoreDNS the directive order and the request
// check of `meridian dns`, cut to the plugins the tests import.
func TestMain(m *testing.M) {
	dnsserver.Directives = []string{"bind", "ready", "health", "prometheus", "errors", "log", "meridian", "file", "whoami"}
	dns.DefaultMsgCheckFunc = CheckEDNS
	caddy.Quiet = true
	dnsserver.Quiet = true
	os.Exit(m.Run())
}

// writePSK writes a pre-shared key file and returns its path.
func writePSK(t testing.TB, dir, key string) string {
	t.Helper()
	p := filepath.Join(dir, "psk")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const testKey = "0123456789abcdef-meridian-test-key"
