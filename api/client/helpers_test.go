package client

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func mustPSK(t testing.TB, s string) cluster.PSK {
	t.Helper()
	k, err := cluster.NewPSK([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// envelope returns a signed snapshot of site at version v.
func envelope(t testing.TB, psk cluster.PSK, site string, v uint64) []byte {
	t.Helper()
	cfg, err := cluster.Parse("t.yaml", []byte(strings.Replace(testkit.MinimalSite, "site: t", "site: "+site, 1)))
	if err != nil {
		t.Fatal(err)
	}
	snap := &cluster.Snapshot{Format: cluster.SnapshotFormat, Site: site, Version: v, ConfigVersion: 1,
		Published: time.Unix(1700000000, 0).UTC(), Config: cfg, Nodes: []cluster.NodeState{{Name: "a", Health: cluster.Up}}}
	env, err := cluster.NewSnapshotSigner(psk, site).Sign(snap)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// tamper changes one byte of the payload and keeps the MAC.
func tamper(t testing.TB, env []byte) []byte {
	t.Helper()
	var e cluster.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(e.Payload), `"up"`)
	if i < 0 {
		t.Fatal("no health in payload")
	}
	e.Payload[i+1] = 'o' // "up" -> "op"
	b, _ := json.Marshal(e)
	return b
}

// fakeDirector answers sync long-polls with fixed envelopes, for the
// client-side refusal tests; it checks the request authentication like the
// director does. Everything else is tested against the real director.
type fakeDirector struct {
	t    testing.TB
	auth *cluster.RequestAuth

	mu     sync.Mutex
	envs   [][]byte // served in order; the last one repeats
	status int      // non-zero: answer this with an api.Error
	body   string   // raw body for status
	nonces map[string]bool
	polls  int
	afters []string
	failed []string // ?failed= reasons
}

func newFakeDirector(t testing.TB, psk cluster.PSK, envs ...[]byte) (*fakeDirector, *httptest.Server) {
	f := &fakeDirector{t: t, auth: cluster.NewRequestAuth(psk), envs: envs, nonces: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeDirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.auth.Check(r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), nil, time.Now(), 30*time.Second)
	if err != nil || f.nonces[n] {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(api.Error{Error: "unauthorized"})
		return
	}
	f.nonces[n] = true
	f.polls++
	f.afters = append(f.afters, r.URL.Query().Get("after"))
	if v := r.URL.Query().Get("failed"); v != "" {
		f.failed = append(f.failed, v)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(f.body))
		return
	}
	if len(f.envs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	env := f.envs[0]
	if len(f.envs) > 1 {
		f.envs = f.envs[1:]
	}
	_, _ = w.Write(env)
}

func (f *fakeDirector) pollCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.polls
}
