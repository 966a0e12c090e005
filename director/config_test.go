package director

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestConfigLifecycle applies, rejects, lists and rolls back site files on
// a single-member director.
func TestConfigLifecycle(t *testing.T) {
	v1 := siteDown(t, 2)
	h := startDirector(t, Config{SiteFile: "zones/t.yaml", SiteData: []byte(v1)})

	code, got := h.admin(http.MethodGet, api.PathConfig, nil)
	if code != http.StatusOK || string(got) != v1 {
		t.Fatalf("GET config: %d\n%s\nwant the initial site", code, got)
	}
	v2 := strings.Replace(v1, "weight: 100", "weight: 40", 1)

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		file       string
		wantCode   int
		wantInBody []string // substrings of the answer
		wantConfig string   // the running site file afterwards
		wantCV     uint64   // the running config version afterwards
	}{
		{"bad field", http.MethodPost, api.PathConfig, strings.Replace(v1, "weight: 100", "weight: heavy", 1), "bad.yaml",
			http.StatusBadRequest, []string{`"File":"bad.yaml"`, `"Line":13`, `"Field":"nodes[0].weight"`}, v1, 1},
		{"unknown field", http.MethodPost, api.PathConfig, v1 + "colour: blue\n", "bad.yaml",
			http.StatusBadRequest, []string{`"Field":"colour"`, "unknown field"}, v1, 1},
		{"other site", http.MethodPost, api.PathConfig, strings.Replace(v1, "site: t", "site: u", 1), "u.yaml",
			http.StatusBadRequest, []string{`"Field":"site"`, `"Line":2`, "is not this director's site"}, v1, 1},
		{"apply", http.MethodPost, api.PathConfig, v2, "zones/t.yaml",
			http.StatusOK, []string{`"config_version":2`}, v2, 2},
		{"apply same again", http.MethodPost, api.PathConfig, v2, "zones/t.yaml",
			http.StatusOK, []string{`"config_version":2`}, v2, 2},
		{"rollback", http.MethodPost, api.PathRollback + "?version=1", "", "",
			http.StatusOK, []string{`"config_version":3`}, v1, 3},
		{"rollback unknown", http.MethodPost, api.PathRollback + "?version=99", "", "",
			http.StatusNotFound, []string{"no such config version"}, v1, 3},
		{"rollback bad", http.MethodPost, api.PathRollback + "?version=x", "", "",
			http.StatusBadRequest, []string{"version"}, v1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.admin(tt.method, tt.path, []byte(tt.body), api.HeaderFile, tt.file, api.HeaderAuthor, "mallory") // ignored: the token names the author
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", code, tt.wantCode, body)
			}
			for _, s := range tt.wantInBody {
				if !strings.Contains(string(body), s) {
					t.Errorf("answer lacks %s:\n%s", s, body)
				}
			}
			if _, cfg := h.admin(http.MethodGet, api.PathConfig, nil); string(cfg) != tt.wantConfig {
				t.Errorf("running config afterwards:\n%s\nwant:\n%s", cfg, tt.wantConfig)
			}
			// A subscriber sees the running version at once.
			if s := h.current(); s.ConfigVersion != tt.wantCV {
				t.Errorf("snapshot config version %d, want %d", s.ConfigVersion, tt.wantCV)
			}
		})
	}

	var hist []api.ConfigVersion
	h.adminJSON(http.MethodGet, api.PathHistory, nil, &hist)
	if len(hist) != 3 {
		t.Fatalf("history has %d versions, want 3: %+v", len(hist), hist)
	}
	want := []struct {
		v       uint64
		comment string
		author  string
		diff    string
	}{
		{3, "rollback to 1", "alice", "+    weight: 100"},
		{2, "apply", "alice", "-    weight: 100\n+    weight: 40"},
		{1, "initial site", "director/d1", "+site: t"},
	}
	for i, w := range want {
		got := hist[i]
		if got.Version != w.v || got.Comment != w.comment || got.Author != w.author || !strings.Contains(got.Diff, w.diff) || got.Time.IsZero() {
			t.Errorf("history[%d] = %d %q by %q at %v, diff:\n%s\nwant %d %q by %q with %q", i, got.Version, got.Comment, got.Author, got.Time, got.Diff, w.v, w.comment, w.author, w.diff)
		}
	}

	var st api.Status
	h.adminJSON(http.MethodGet, api.PathStatus, nil, &st)
	if st.Site != testSite || st.ConfigVersion != 3 || st.Director != "d1" || len(st.Nodes) != 2 || len(st.Masters) != 1 {
		b, _ := json.Marshal(st)
		t.Errorf("status: %s", b)
	}
	testkit.Eventually(t, 10*time.Second, "leader shown in status", func() bool {
		h.adminJSON(http.MethodGet, api.PathStatus, nil, &st)
		return st.Leader == "d1"
	})
}

// TestStoreSurvivesRestart restarts a director on the same data directory:
// the config history and the running version are still there, and the
// site file given again is not re-applied.
func TestStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	v1 := siteDown(t, 1)
	h := startDirector(t, Config{Etcd: EtcdConfig{DataDir: dir}, SiteData: []byte(v1)})
	v2 := strings.Replace(v1, "weight: 100", "weight: 7", 1)
	var res api.ChangeResult
	h.adminJSON(http.MethodPost, api.PathConfig, []byte(v2), &res)
	before := h.current().Version
	h.stop()

	h = startDirector(t, Config{Etcd: EtcdConfig{DataDir: dir}, SiteData: []byte(v1)})
	s := h.current()
	if s.ConfigVersion != 2 || s.Version < before || s.Config.Nodes[0].Weight != 7 {
		t.Errorf("after restart: config version %d (want 2), version %d (was %d), weight %d", s.ConfigVersion, s.Version, before, s.Config.Nodes[0].Weight)
	}
	// Without a site file the director finds the site in its store.
	h.stop()
	h = startDirector(t, Config{Etcd: EtcdConfig{DataDir: dir}})
	if got := h.current().ConfigVersion; got != 2 {
		t.Errorf("without site file: config version %d, want 2", got)
	}
}

// TestNewValidates refuses incomplete configurations with a clear reason.
func TestNewValidates(t *testing.T) {
	psk, err := cluster.NewPSK([]byte(testPSK))
	if err != nil {
		t.Fatal(err)
	}
	good := func() Config {
		return Config{Name: "d", Etcd: EtcdConfig{DataDir: t.TempDir()}, PSK: psk, AdminToken: testToken}
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = accepted
	}{
		{"good", func(*Config) {}, ""},
		{"external etcd", func(c *Config) { c.Etcd = EtcdConfig{Endpoints: []string{"http://127.0.0.1:2379"}} }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"no store", func(c *Config) { c.Etcd.DataDir = "" }, "data directory or external endpoints"},
		{"no psk", func(c *Config) { c.PSK = cluster.PSK{} }, "pre-shared key is required"},
		{"no token", func(c *Config) { c.AdminToken = "" }, "admin token is required"},
		{"named tokens", func(c *Config) {
			c.AdminToken, c.AdminTokens = "", []cluster.NamedToken{{Name: "alice", Token: testToken}, {Name: "bob", Token: testToken + "-bob"}}
		}, ""},
		{"short token", func(c *Config) { c.AdminToken = "tok" }, "admin token of admin: token is too short: 3 bytes"},
		{"token twice", func(c *Config) { c.AdminTokens = []cluster.NamedToken{{Name: "bob", Token: testToken}} }, "admin token of admin: same token as bob"},
		{"name twice", func(c *Config) { c.AdminTokens = []cluster.NamedToken{{Name: "admin", Token: testToken + "-2"}} }, "admin token of admin: the name is used twice"},
		{"unnamed token", func(c *Config) { c.AdminTokens = []cluster.NamedToken{{Token: testToken + "-2"}} }, "admin token 1 has no operator name"},
		{"bad listen", func(c *Config) { c.Listen = "7700" }, "listen"},
		{"cert without key", func(c *Config) { c.TLSCertFile = "c.pem" }, "both a certificate and a key"},
		{"bad cluster state", func(c *Config) { c.Etcd.ClusterState = "old" }, "cluster state"},
		{"member without urls", func(c *Config) { c.Etcd.InitialCluster = "a=http://127.0.0.1:1" }, "peer and client URLs"},
		{"bad site", func(c *Config) { c.SiteFile, c.SiteData = "s.yaml", []byte("site: t\nbogus: 1\n") }, "s.yaml:2:1: bogus: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.change(&cfg)
			_, err := New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err %v, want %q", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), testPSK) || strings.Contains(err.Error(), testToken)) {
				t.Error("the error shows a secret")
			}
		})
	}
}
