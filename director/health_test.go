package director

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// flipHTTP is a health endpoint whose status the test sets.
type flipHTTP struct{ status atomic.Int32 }

func (f *flipHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(int(f.status.Load()))
}

// TestHealthChecks probes real listeners at 250 ms: a TCP target that
// stops and comes back, an HTTP target whose status flips, a TLS target
// and a TURN target probed through the seam.
func TestHealthChecks(t *testing.T) {
	tcpL := testkit.Accepting(t)
	tcpAddr := tcpL.Addr().String()
	masterL := testkit.Accepting(t)

	flip := &flipHTTP{}
	flip.status.Store(http.StatusOK)
	httpSrv := httptest.NewServer(flip)
	defer httpSrv.Close()
	tlsSrv := httptest.NewTLSServer(flip)
	defer tlsSrv.Close()
	turnAddr := testkit.FreeAddr(t)
	var turnCalls atomic.Int32
	turnProbe := func(ctx context.Context, hc cluster.HealthCheck) error {
		turnCalls.Add(1)
		if hc.Target != turnAddr {
			return fmt.Errorf("turn probe got target %s", hc.Target)
		}
		return nil
	}

	site := fmt.Sprintf(`site: t
zone: z.example.
masters:
  primary:
    name: m1
    ipv4: 192.0.2.1
    internal: "%s"
    health: {kind: tcp, interval: 250ms, timeout: 200ms}
selection: {method: random}
health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 2, fall: 3}
nodes:
  - {name: tcp, ipv4: 192.0.2.11, internal: "%s"}
  - name: web
    ipv4: 192.0.2.12
    internal: "%s"
    health: {kind: http, path: /healthz, expect: 200}
  - name: sec
    ipv4: 192.0.2.13
    internal: "%s"
    health: {kind: https, path: /healthz}
  - name: hs
    ipv4: 192.0.2.14
    internal: "%s"
    health: {kind: tls, target: "%s"}
  - name: relay
    ipv4: 192.0.2.15
    internal: "%s"
    health: {kind: turn}
`, masterL.Addr(), tcpAddr, strings.TrimPrefix(httpSrv.URL, "http://"), strings.TrimPrefix(tlsSrv.URL, "https://"),
		testkit.FreeAddr(t), strings.TrimPrefix(tlsSrv.URL, "https://"), turnAddr)
	h := startDirector(t, Config{SiteData: []byte(site), TURNProbe: turnProbe})

	health := func(name string) cluster.NodeState { return h.current().Node(name) }
	defer func() {
		if t.Failed() {
			t.Logf("snapshot: nodes %+v masters %+v", h.current().Nodes, h.current().Masters)
		}
	}()
	testkit.Eventually(t, 5*time.Second, "every node up", func() bool {
		s := h.current()
		for _, n := range []string{"tcp", "web", "sec", "hs", "relay"} {
			if s.Node(n).Health != cluster.Up {
				return false
			}
		}
		return s.Master("m1").Health == cluster.Up
	})
	if turnCalls.Load() == 0 {
		t.Error("the turn probe seam was not used")
	}
	if r := health("web").Reason; r != "2 checks passed" {
		t.Errorf("up reason %q", r)
	}

	const interval = 250 * time.Millisecond
	steps := []struct {
		name   string
		node   string
		act    func()
		want   cluster.Health
		reason string
		// The least time the change can take: fall (or rise) probes, the
		// first of them possibly at once.
		least time.Duration
	}{
		{"tcp listener closed", "tcp", func() { tcpL.Close() }, cluster.Down, "3 failures: dial tcp " + tcpAddr, 2 * interval},
		{"tcp listener back", "tcp", func() {
			tcpL = testkit.AcceptingOn(t, tcpAddr)
		}, cluster.Up, "2 checks passed", interval},
		{"http 503", "web", func() { flip.status.Store(http.StatusServiceUnavailable) }, cluster.Down, "3 failures: http status 503, want 200", 2 * interval},
		{"http 200 again", "web", func() { flip.status.Store(http.StatusOK) }, cluster.Up, "2 checks passed", interval},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := health(st.node)
			start := time.Now()
			st.act()
			testkit.Eventually(t, 10*time.Second, st.node+" "+string(st.want), func() bool { return health(st.node).Health == st.want })
			took := time.Since(start)
			got := health(st.node)
			if !strings.HasPrefix(got.Reason, st.reason) {
				t.Errorf("reason %q, want prefix %q", got.Reason, st.reason)
			}
			if !got.Since.After(before.Since) {
				t.Errorf("since %v not after %v", got.Since, before.Since)
			}
			if took < st.least-50*time.Millisecond {
				t.Errorf("changed after %s, sooner than rise/fall allows (%s)", took, st.least)
			}
		})
	}
	tcpL.Close()
	if n := h.counter("meridian_director_health_checks_total", "kind", "http", "result", "failure"); n < 3 {
		t.Errorf("http failures counted %v, want >= 3", n)
	}
}
