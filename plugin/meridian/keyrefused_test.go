package meridian

import (
	golog "log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meridian-traffic/meridian/api/client/clienttest"
)

// TestKeyRefused runs the plugin against a real director that refuses its
// key, without and with a cached snapshot: the refusal is logged once
// with the director, the status and the reason, coredns_meridian_key_refused
// is 1, and the plugin is not ready while it holds no snapshot. When the
// director takes the key, the state clears, logged once.
func TestKeyRefused(t *testing.T) {
	logs := &testkit.Buffer{}
	golog.SetOutput(logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	tests := []struct {
		name      string
		cached    bool
		wantReady bool // while refused
	}{
		{"no cache", false, false},
		{"serving the cache", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := "keys" + strings.ReplaceAll(tt.name, " ", "")
			d := clienttest.Start(t, clienttest.Site(site, clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(t)}))
			cfg := Config{Zones: []string{site + ".example."}, Directors: []string{d.URL}, PSK: d.PSK, CacheDir: t.TempDir(), ID: "dns/" + site, Site: site}
			if tt.cached {
				m := New(cfg)
				if err := m.OnStartup(); err != nil {
					t.Fatal(err)
				}
				testkit.Eventually(t, 10*time.Second, "a snapshot", m.Ready)
				m.OnShutdown()
			}
			d.Stop(t)
			d.RestartWithPSK(t, "a-key-the-plugin-does-not-have-42")
			m := New(cfg)
			if err := m.OnStartup(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.OnShutdown() })
			refusedLine := "the director refused our key: director " + d.URL + " answered 401"
			testkit.Eventually(t, 10*time.Second, "refusal logged", func() bool { return strings.Contains(logs.String(), refusedLine) })
			time.Sleep(2500 * time.Millisecond) // two more reports
			if got := testutil.ToFloat64(keyRefused.WithLabelValues(site)); got != 1 {
				t.Errorf("coredns_meridian_key_refused{site=%q} = %v, want 1", site, got)
			}
			if m.Ready() != tt.wantReady {
				t.Errorf("Ready() = %v while refused, want %v", m.Ready(), tt.wantReady)
			}
			if n := strings.Count(logs.String(), refusedLine); n != 1 {
				t.Errorf("refusal logged %d times, want 1:\n%s", n, logs.String())
			}

			d.Stop(t)
			d.RestartWithPSK(t, clienttest.PSKText)
			acceptedLine := "the director " + d.URL + " accepts our key again"
			testkit.Eventually(t, 20*time.Second, "acceptance logged", func() bool { return strings.Contains(logs.String(), acceptedLine) })
			testkit.Eventually(t, 10*time.Second, "ready", m.Ready)
			if got := testutil.ToFloat64(keyRefused.WithLabelValues(site)); got != 0 {
				t.Errorf("coredns_meridian_key_refused{site=%q} = %v after acceptance, want 0", site, got)
			}
			if n := strings.Count(logs.String(), acceptedLine); n != 1 {
				t.Errorf("acceptance logged %d times, want 1", n)
			}
		})
	}
}
