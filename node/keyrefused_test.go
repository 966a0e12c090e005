package node

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const wrongKey = "a-key-the-agent-does-not-have-42"

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestKeyRefused runs an agent whose key the director refuses, without and
// with a cached snapshot: it logs the refusal once, shows it in /v1/node,
// /healthz (when it has nothing to serve) and meridian_node_key_refused;
// when the director takes its key the state clears, logged once.
func TestKeyRefused(t *testing.T) {
	tests := []struct {
		name     string
		cached   bool
		wantCode int    // /healthz while refused
		wantBody string // in it
	}{
		{"no cache", false, http.StatusServiceUnavailable, "refused our key"},
		{"serving the cache", true, http.StatusOK, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := testkit.FreeAddr(t)
			d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: addr}))
			cache := t.TempDir()
			if tt.cached {
				// A good run fills the cache; the director then takes
				// another key than the agent's.
				a := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, CacheDir: cache})
				testkit.Eventually(t, 10*time.Second, "cache written", func() bool { return fileExists(filepath.Join(cache, CacheFileName)) })
				a.stop(t)
			}
			// The agent keeps the key (and its cache's signature); the
			// director takes another.
			agentKey := d.PSK
			d.Stop(t)
			d.RestartWithPSK(t, wrongKey)
			reg := prometheus.NewRegistry()
			a := start(t, Config{Name: "n1", Director: d.URL, PSK: agentKey, CacheDir: cache, HealthListen: addr,
				Registerer: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
			testkit.Eventually(t, 10*time.Second, "key refused", func() bool { return a.Stats().KeyRefused })
			time.Sleep(300 * time.Millisecond) // polls and heartbeats go on
			code, body := get(t, addr, PathHealth)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("health %d %q, want %d %q", code, body, tt.wantCode, tt.wantBody)
			}
			in := info(t, addr)
			if !in.KeyRefused || !strings.Contains(in.KeyRefusal, "401") {
				t.Errorf("info %+v, want the key refused", in)
			}
			if _, m := get(t, addr, "/metrics"); !strings.Contains(m, "meridian_node_key_refused 1") {
				t.Errorf("metrics lack meridian_node_key_refused 1:\n%s", m)
			}
			if n := testkit.CountLines(a.logs.String(), "the director refused our key", "director="+d.URL, "status=401"); n != 1 {
				t.Errorf("refusal logged %d times, want 1:\n%s", n, a.logs.String())
			}
			if n := testkit.CountLines(a.logs.String(), "level=WARN", "401"); n != 0 {
				t.Errorf("%d warnings with 401 besides, want none:\n%s", n, a.logs.String())
			}

			d.Stop(t)
			d.RestartWithPSK(t, clienttest.PSKText)
			testkit.Eventually(t, 20*time.Second, "key accepted", func() bool { return !a.Stats().KeyRefused && a.Current() != nil })
			testkit.Eventually(t, 10*time.Second, "health 200", healthIs(t, addr, http.StatusOK))
			if _, m := get(t, addr, "/metrics"); !strings.Contains(m, "meridian_node_key_refused 0") {
				t.Errorf("metrics lack meridian_node_key_refused 0:\n%s", m)
			}
			if n := testkit.CountLines(a.logs.String(), "the director accepts our key again"); n != 1 {
				t.Errorf("acceptance logged %d times, want 1", n)
			}
		})
	}
}

// TestFirstHeartbeatFromCache: an agent that starts on its cached
// snapshot reports that version in its first heartbeat, not 0.
func TestFirstHeartbeatFromCache(t *testing.T) {
	addr := testkit.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: addr}))
	cache := t.TempDir()
	a := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, CacheDir: cache})
	testkit.Eventually(t, 10*time.Second, "cache written", func() bool { return fileExists(filepath.Join(cache, CacheFileName)) })
	held := a.Current().Version
	a.stop(t)

	for i := range 5 { // the race was with the first heartbeat
		// One heartbeat only: the next is an hour away.
		started := time.Now()
		a := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, CacheDir: cache, HeartbeatEvery: time.Hour})
		adm := client.NewAdmin(d.URL, clienttest.Token, nil)
		var got uint64
		testkit.Eventually(t, 10*time.Second, "a heartbeat", func() bool {
			ns, err := adm.Nodes(context.Background())
			if err != nil || len(ns) == 0 || ns[0].Heartbeat == nil || !ns[0].LastHeartbeat.After(started) {
				return false
			}
			got = ns[0].Heartbeat.Version
			return true
		})
		if got < held {
			t.Errorf("start %d: first heartbeat reports version %d, want the cached %d or newer", i, got, held)
		}
		a.stop(t)
	}
}
