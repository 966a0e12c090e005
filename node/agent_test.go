package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// recorder is a Part that remembers what the agent told it.
type recorder struct {
	mu      sync.Mutex
	applied []uint64 // versions; 0 = told to stop serving
	self    string
	beats   int
	broken  atomic.Bool
}

func (r *recorder) Apply(_ context.Context, s *cluster.Snapshot, self *cluster.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s == nil {
		r.applied = append(r.applied, 0)
		return
	}
	r.applied = append(r.applied, s.Version)
	r.self = self.Name
}

func (r *recorder) Heartbeat(hb *api.Heartbeat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beats++
	hb.Clients = 7
}

func (r *recorder) Check(context.Context) error {
	if r.broken.Load() {
		return errors.New("relay down")
	}
	return nil
}

func (r *recorder) last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return ^uint64(0)
	}
	return r.applied[len(r.applied)-1]
}

// running is an agent started by a test.
type running struct {
	*Agent
	run  *testkit.Running
	logs *testkit.Buffer
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	logs := &testkit.Buffer{}
	cfg.Logger = logs.Logger()
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = 100 * time.Millisecond
	}
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{Agent: a, logs: logs}
	r.run = testkit.Go(t, "agent", 10*time.Second, a.Run)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	_ = r.run.Stop()
	clienttest.NoSecrets(t, "agent logs", r.logs.String())
}

// get fetches a path of the agent's endpoint at addr.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func info(t *testing.T, addr string) Info {
	t.Helper()
	code, body := get(t, addr, PathInfo)
	var in Info
	if code != http.StatusOK || json.Unmarshal([]byte(body), &in) != nil {
		t.Fatalf("GET %s = %d %q", PathInfo, code, body)
	}
	return in
}

func healthIs(t *testing.T, addr string, want int) func() bool {
	return func() bool { code, _ := get(t, addr, PathHealth); return code == want }
}

// TestAgentLifecycle runs agents against a real director: serving, health
// seen by the director, heartbeats, drain, removal, and a restart on the
// cache with the director stopped; then a corrupt cache.
func TestAgentLifecycle(t *testing.T) {
	addr1, addr2 := testkit.FreeAddr(t), testkit.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: addr1}, clienttest.Node{Name: "n2", Internal: addr2}))
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	ctx := context.Background()
	cache1, cache2 := t.TempDir(), t.TempDir()

	// n1 listens where the site says; n2 where it is told.
	part1, part2 := &recorder{}, &recorder{}
	a1 := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, Site: "lab", CacheDir: cache1, Parts: []Part{part1}})
	a2 := start(t, Config{Name: "n2", Director: d.URL, PSK: d.PSK, CacheDir: cache2, HealthListen: addr2, Parts: []Part{part2}})

	t.Run("serves and is seen", func(t *testing.T) {
		testkit.Eventually(t, 10*time.Second, "n1 health 200", func() bool { return a1.HealthAddr() == addr1 && healthIs(t, addr1, 200)() })
		if _, body := get(t, addr1, PathHealth); body != "ok" {
			t.Errorf("health body %q", body)
		}
		testkit.Eventually(t, 10*time.Second, "director sees both up with heartbeats", func() bool {
			ns, err := adm.Nodes(ctx)
			if err != nil || len(ns) != 2 {
				return false
			}
			for _, n := range ns {
				if n.Health != cluster.Up || n.Heartbeat == nil || n.Heartbeat.Version == 0 || n.Heartbeat.Clients != 7 {
					return false
				}
			}
			return true
		})
		in := info(t, addr1)
		if in.Name != "n1" || in.Site != "lab" || in.Version == 0 || !in.Serving || !in.DirectorReachable || in.FromCache || in.Uptime <= 0 {
			t.Errorf("info %+v", in)
		}
		if part1.self != "n1" || part1.last() == 0 || part1.beats == 0 {
			t.Errorf("part saw %+v", part1)
		}
	})

	t.Run("part check fails health", func(t *testing.T) {
		part1.broken.Store(true)
		code, body := get(t, addr1, PathHealth)
		part1.broken.Store(false)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "relay down") {
			t.Errorf("health = %d %q", code, body)
		}
	})

	t.Run("drain reaches the parts", func(t *testing.T) {
		res, err := adm.Drain(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "part applies the drain", func() bool { return part1.last() >= res.Version })
		if !a1.Current().Node("n1").Drained {
			t.Error("not drained")
		}
	})

	t.Run("removed node stops serving", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(cache2, CacheFileName)); err != nil {
			t.Fatalf("n2 has no cache: %v", err)
		}
		if _, err := adm.RemoveNode(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "n2 health 503", healthIs(t, addr2, 503))
		if _, err := os.Stat(filepath.Join(cache2, CacheFileName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cache not deleted: %v", err)
		}
		if _, body := get(t, addr2, PathHealth); !strings.Contains(body, "removed") {
			t.Errorf("health body %q", body)
		}
		if in := info(t, addr2); !in.Removed || in.Version != 0 || in.Serving {
			t.Errorf("info %+v", in)
		}
		testkit.Eventually(t, 5*time.Second, "part told to stop", func() bool { return part2.last() == 0 })
		select {
		case <-a2.run.Done():
			t.Fatalf("agent stopped: %v", a2.run.Err())
		default:
		}
	})

	a1.stop(t)
	held := a1.Current().Version
	d.Stop(t)

	t.Run("restart on the cache with the director down", func(t *testing.T) {
		part := &recorder{}
		a := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, CacheDir: cache1, Parts: []Part{part}})
		testkit.Eventually(t, 10*time.Second, "health 200 from the cache", func() bool { return a.HealthAddr() == addr1 && healthIs(t, addr1, 200)() })
		in := info(t, addr1)
		if in.Version != held || !in.FromCache || !in.Serving || in.Site != "lab" {
			t.Errorf("info %+v, want version %d from cache", in, held)
		}
		testkit.Eventually(t, 5*time.Second, "director unreachable", func() bool { return !info(t, addr1).DirectorReachable && a.Stats().Errors > 0 })
		if part.last() != held {
			t.Errorf("part applied %d, want %d", part.last(), held)
		}
		a.stop(t)
	})

	t.Run("corrupt cache is refused", func(t *testing.T) {
		f := filepath.Join(cache1, CacheFileName)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		listen := testkit.FreeAddr(t)
		a := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, CacheDir: cache1, HealthListen: listen})
		testkit.Eventually(t, 10*time.Second, "refusal", func() bool { return a.Stats().Refused > 0 })
		code, body := get(t, listen, PathHealth)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "no snapshot") {
			t.Errorf("health = %d %q", code, body)
		}
		if in := info(t, listen); in.Version != 0 || in.Serving || in.LastError == "" {
			t.Errorf("info %+v", in)
		}
		if a.Current() != nil {
			t.Error("serving a corrupt cache")
		}
	})
	clienttest.NoSecrets(t, "director logs", d.Logs.String())
}

func TestNewConfig(t *testing.T) {
	psk, _ := cluster.NewPSK([]byte(clienttest.PSKText))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Name: "n1", Director: "http://127.0.0.1:7700", PSK: psk}, ""},
		{"no name", Config{Director: "http://127.0.0.1:7700", PSK: psk}, "name"},
		{"no director", Config{Name: "n1", PSK: psk}, "director URL"},
		{"directors", Config{Name: "n1", Directors: []string{"http://127.0.0.1:7700", "http://127.0.0.2:7700"}, PSK: psk}, ""},
		{"bad second director", Config{Name: "n1", Directors: []string{"http://127.0.0.1:7700", "127.0.0.2:7700"}, PSK: psk}, "director URL"},
		{"no psk", Config{Name: "n1", Director: "http://127.0.0.1:7700"}, "pre-shared key"},
		{"bad listen", Config{Name: "n1", Director: "http://127.0.0.1:7700", PSK: psk, HealthListen: "nowhere"}, "health listen"},
		{"negative heartbeat", Config{Name: "n1", Director: "http://127.0.0.1:7700", PSK: psk, HeartbeatEvery: -1}, "heartbeat"},
		{"nil part", Config{Name: "n1", Director: "http://127.0.0.1:7700", PSK: psk, Parts: []Part{nil}}, "part 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			testkit.WantErr(t, err, tt.want)
		})
	}
}

func TestParseLoadAvg(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.42 0.30 0.25 1/123 4567\n", 0.42, true},
		{"12.5", 12.5, true},
		{"", 0, false},
		{"x 1 2", 0, false},
		{"-1 0 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseLoadAvg(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseLoadAvg(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := loadAvg(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file: no error")
	}
}
