package client

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const (
	testKey  = "subscriber-test-key-0123456789"
	otherKey = "another-site-key-9876543210"
)

// TestSubscriberRefuses checks that every bad snapshot is refused and never
// replaces the one held.
func TestSubscriberRefuses(t *testing.T) {
	psk, other := mustPSK(t, testKey), mustPSK(t, otherKey)
	good := envelope(t, psk, "t", 5)
	tests := []struct {
		name string
		site string // SubscriberConfig.Site
		held []byte // cache at start
		env  []byte // what the director serves
		want string // in LastError
	}{
		{"tampered payload byte", "t", nil, tamper(t, envelope(t, psk, "t", 7)), cluster.ErrBadSignature.Error()},
		{"wrong psk", "t", nil, envelope(t, other, "t", 7), cluster.ErrBadSignature.Error()},
		{"wrong psk, site not pinned", "", nil, envelope(t, other, "t", 7), cluster.ErrBadSignature.Error()},
		{"foreign site", "t", nil, envelope(t, psk, "u", 7), cluster.ErrForeignSite.Error()},
		{"foreign to the cached site", "", good, envelope(t, psk, "u", 7), cluster.ErrForeignSite.Error()},
		{"older than held", "t", good, envelope(t, psk, "t", 3), cluster.ErrStale.Error()},
		{"unsigned", "t", nil, []byte(`{"payload":"e30="}`), cluster.ErrUnsigned.Error()},
		{"garbage", "t", nil, []byte("<html>busy</html>"), "decode envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "snap.json")
			if tt.held != nil {
				if err := os.WriteFile(cache, tt.held, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f, srv := newFakeDirector(t, psk, tt.env)
			var got atomic.Int32
			s, err := NewSubscriber(SubscriberConfig{Director: srv.URL, PSK: psk, Site: tt.site, ID: "a", Kind: api.KindNode,
				CacheFile: cache, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
				OnSnapshot: func(*cluster.Snapshot) { got.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Go(t, "subscriber", 5*time.Second, s.Run)
			testkit.Eventually(t, 5*time.Second, "two refusals", func() bool { return s.Stats().Refused >= 2 && f.pollCount() >= 2 })
			st := s.Stats()
			if !strings.Contains(st.LastError, tt.want) {
				t.Errorf("LastError = %q, want %q", st.LastError, tt.want)
			}
			wantCalls, wantVersion := int32(0), uint64(0)
			if tt.held != nil {
				wantCalls, wantVersion = 1, 5
			}
			if got.Load() != wantCalls || st.Version != wantVersion {
				t.Errorf("OnSnapshot calls %d, version %d; want %d, %d", got.Load(), st.Version, wantCalls, wantVersion)
			}
			if c := s.Current(); (c == nil) != (tt.held == nil) || c != nil && c.Version != 5 {
				t.Errorf("Current = %+v", c)
			}
			f.mu.Lock()
			if len(f.failed) == 0 || !strings.Contains(f.failed[0], tt.want) {
				t.Errorf("reported failures %q, want %q", f.failed, tt.want)
			}
			f.mu.Unlock()
			b, _ := os.ReadFile(cache)
			if !bytes.Equal(b, tt.held) {
				t.Errorf("cache changed to %q", b)
			}
		})
	}
}

// TestSubscriberCache checks the last-known-good cache at start.
func TestSubscriberCache(t *testing.T) {
	psk := mustPSK(t, testKey)
	good := envelope(t, psk, "t", 5)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name    string
		cache   []byte
		version uint64 // 0 = nothing served
	}{
		{"good", good, 5},
		{"corrupt", flipped, 0},
		{"tampered", tamper(t, good), 0},
		{"truncated", good[:len(good)/2], 0},
		{"empty", []byte{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "snap.json")
			if err := os.WriteFile(cache, tt.cache, 0o600); err != nil {
				t.Fatal(err)
			}
			// Nothing listens here: the subscriber lives on its cache.
			s, err := NewSubscriber(SubscriberConfig{Director: "http://" + testkit.FreeAddr(t), PSK: psk, ID: "a", Kind: api.KindNode,
				CacheFile: cache, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Go(t, "subscriber", 5*time.Second, s.Run)
			testkit.Eventually(t, 5*time.Second, "a failed poll", func() bool { return s.Stats().Errors >= 2 })
			st := s.Stats()
			if st.Version != tt.version || st.Reachable {
				t.Errorf("stats %+v, want version %d and unreachable", st, tt.version)
			}
			c := s.Current()
			if tt.version == 0 {
				if c != nil {
					t.Errorf("served a refused cache: version %d", c.Version)
				}
				if st.Refused == 0 {
					t.Error("refusal not counted")
				}
				return
			}
			if c == nil || c.Version != tt.version || !st.FromCache || st.Site != "t" {
				t.Errorf("Current %v, stats %+v", c, st)
			}
		})
	}
}

// TestSubscriberFollows checks new versions, a repeated one, the after=
// parameter and the cache written atomically.
func TestSubscriberFollows(t *testing.T) {
	psk := mustPSK(t, testKey)
	v1, v2 := envelope(t, psk, "t", 1), envelope(t, psk, "t", 2)
	f, srv := newFakeDirector(t, psk, v1, v1, v2)
	cache := filepath.Join(t.TempDir(), "sub", "snap.json")
	var mu sync.Mutex
	var seen []uint64
	s, err := NewSubscriber(SubscriberConfig{Director: srv.URL + "/", PSK: psk, ID: "dns/ns1", Kind: api.KindDNS, CacheFile: cache,
		MinBackoff: 5 * time.Millisecond, OnSnapshot: func(s *cluster.Snapshot) {
			mu.Lock()
			seen = append(seen, s.Version)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 5*time.Second, s.Run)
	testkit.Eventually(t, 5*time.Second, "version 2", func() bool { c := s.Current(); return c != nil && c.Version == 2 })
	mu.Lock()
	if len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
		t.Errorf("OnSnapshot saw %v, want [1 2]", seen)
	}
	mu.Unlock()
	if st := s.Stats(); st.Refused != 0 || st.Errors != 0 || !st.Reachable || st.FromCache {
		t.Errorf("stats %+v", st)
	}
	b, err := os.ReadFile(cache)
	if err != nil || !bytes.Equal(b, v2) {
		t.Errorf("cache = %q, %v; want version 2", b, err)
	}
	f.mu.Lock()
	if got := strings.Join(f.afters[:3], ","); got != "0,1,1" {
		t.Errorf("after= %s, want 0,1,1", got)
	}
	f.mu.Unlock()
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestSubscriberErrors checks answers that are not snapshots.
func TestSubscriberErrors(t *testing.T) {
	psk := mustPSK(t, testKey)
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"api error", http.StatusInternalServerError, `{"error":"store unavailable"}`, "500: store unavailable"},
		{"html error", http.StatusBadGateway, "<html>\nbad gateway</html>", "502: Bad Gateway: <html>"},
		{"unauthorized", http.StatusUnauthorized, `{"error":"unauthorized"}`, "401: unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeDirector(t, psk)
			f.status, f.body = tt.status, tt.body
			var logs testkit.Buffer
			s, err := NewSubscriber(SubscriberConfig{Director: srv.URL, PSK: psk, ID: "a", Kind: api.KindNode,
				MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
				Logger: logs.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Go(t, "subscriber", 5*time.Second, s.Run)
			testkit.Eventually(t, 5*time.Second, "errors", func() bool { return s.Stats().Errors >= 2 })
			if st := s.Stats(); !strings.Contains(st.LastError, tt.want) || !st.Reachable || st.Refused != 0 {
				t.Errorf("stats %+v, want error %q", st, tt.want)
			}
			if strings.Contains(logs.String(), testKey) {
				t.Error("the PSK is in the log")
			}
		})
	}
}

// TestSubscriberRemoved checks 410 Gone: snapshot and cache dropped once.
func TestSubscriberRemoved(t *testing.T) {
	psk := mustPSK(t, testKey)
	cache := filepath.Join(t.TempDir(), "snap.json")
	if err := os.WriteFile(cache, envelope(t, psk, "t", 5), 0o600); err != nil {
		t.Fatal(err)
	}
	f, srv := newFakeDirector(t, psk)
	f.status, f.body = http.StatusGone, `{"error":"node a was removed"}`
	var removed atomic.Int32
	s, err := NewSubscriber(SubscriberConfig{Director: srv.URL, PSK: psk, ID: "a", Kind: api.KindNode, CacheFile: cache,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, OnRemoved: func() { removed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Go(t, "subscriber", 5*time.Second, s.Run)
	testkit.Eventually(t, 5*time.Second, "removal", func() bool { return f.pollCount() >= 3 })
	if st := s.Stats(); !st.Removed || st.Version != 0 || s.Current() != nil {
		t.Errorf("stats %+v, current %v", st, s.Current())
	}
	if _, err := os.Stat(cache); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache still there: %v", err)
	}
	if n := removed.Load(); n != 1 {
		t.Errorf("OnRemoved called %d times, want 1", n)
	}
}

func TestNewSubscriberConfig(t *testing.T) {
	psk := mustPSK(t, testKey)
	tests := []struct {
		name string
		cfg  SubscriberConfig
		want string
	}{
		{"ok", SubscriberConfig{Director: "http://127.0.0.1:1", PSK: psk, ID: "a", Kind: api.KindNode}, ""},
		{"no url", SubscriberConfig{PSK: psk, ID: "a", Kind: api.KindNode}, "empty"},
		{"bad scheme", SubscriberConfig{Director: "ftp://x", PSK: psk, ID: "a", Kind: api.KindNode}, "want http"},
		{"user in url", SubscriberConfig{Director: "http://u:p@x", PSK: psk, ID: "a", Kind: api.KindNode}, "no user"},
		{"no psk", SubscriberConfig{Director: "http://x", ID: "a", Kind: api.KindNode}, "pre-shared key"},
		{"no id", SubscriberConfig{Director: "http://x", PSK: psk, Kind: api.KindNode}, "no id"},
		{"bad kind", SubscriberConfig{Director: "http://x", PSK: psk, ID: "a", Kind: "relay"}, "kind"},
		{"negative", SubscriberConfig{Director: "http://x", PSK: psk, ID: "a", Kind: api.KindDNS, Wait: -1}, "negative"},
		{"directors", SubscriberConfig{Directors: []string{"http://127.0.0.1:1", "https://127.0.0.2:1/d"}, PSK: psk, ID: "a", Kind: api.KindNode}, ""},
		{"directors win", SubscriberConfig{Directors: []string{"http://127.0.0.1:1"}, Director: "ftp://ignored", PSK: psk, ID: "a", Kind: api.KindNode}, ""},
		{"bad second director", SubscriberConfig{Directors: []string{"http://127.0.0.1:1", "x"}, PSK: psk, ID: "a", Kind: api.KindNode}, "want http"},
		{"empty director in list", SubscriberConfig{Directors: []string{"http://127.0.0.1:1", ""}, PSK: psk, ID: "a", Kind: api.KindNode}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSubscriber(tt.cfg)
			testkit.WantErr(t, err, tt.want)
		})
	}
}

func TestBackoff(t *testing.T) {
	s := &Subscriber{cfg: SubscriberConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	tests := []struct {
		fails  int
		lo, hi time.Duration
	}{
		{1, 75 * time.Millisecond, 100 * time.Millisecond},
		{2, 150 * time.Millisecond, 200 * time.Millisecond},
		{4, 600 * time.Millisecond, 800 * time.Millisecond},
		{10, 750 * time.Millisecond, time.Second},
		{1000, 750 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 20 {
			if d := s.backoff(tt.fails); d < tt.lo || d > tt.hi {
				t.Fatalf("backoff(%d) = %s, want [%s, %s]", tt.fails, d, tt.lo, tt.hi)
			}
		}
	}
}
