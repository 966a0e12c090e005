package director

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestThreeDirectors runs three directors, each with an embedded member of
// one etcd cluster. They serve identical snapshots; one leads the health
// checks; when the leader stops another takes over and every acknowledged
// change is still there.
func TestThreeDirectors(t *testing.T) {
	live := testkit.Accepting(t)
	site := testkit.SiteYAML(testkit.FreeAddr(t), live.Addr().String(), testkit.FreeAddr(t))

	etcds := threeMembers(t)
	hs := make([]*harness, 3)
	for i, e := range etcds {
		hs[i] = startDirector(t, Config{Name: memberName(i), SiteData: []byte(site), Etcd: e})
	}
	for _, h := range hs {
		h.waitReady()
	}

	leader := func(among []*harness) *harness {
		var l *harness
		testkit.Eventually(t, 20*time.Second, "exactly one leader", func() bool {
			l = nil
			n := 0
			for _, h := range among {
				if h.d.Leading() {
					l, n = h, n+1
				}
			}
			return n == 1
		})
		return l
	}
	first := leader(hs)
	var others []*harness
	for _, h := range hs {
		if h != first {
			others = append(others, h)
		}
	}

	// Changes through the followers: an apply and a drain.
	applied := strings.Replace(site, "weight: 100", "weight: 60", 1)
	var res api.ChangeResult
	others[0].adminJSON(http.MethodPost, api.PathConfig, []byte(applied), &res, api.HeaderAuthor, "ops") // ignored: the token names the author
	var drained api.ChangeResult
	others[1].adminJSON(http.MethodPost, "/v1/nodes/b/drain", nil, &drained)

	// Every director serves the same signed bytes for the same version.
	testkit.Eventually(t, 10*time.Second, "identical snapshots", func() bool {
		var envs [][]byte
		for _, h := range hs {
			code, b := h.do(h.signed(http.MethodGet, syncPath(0, "dir/"+h.d.cfg.Name, api.KindDirector, time.Second), nil, time.Now(), nonce(), h.psk))
			if code != http.StatusOK {
				return false
			}
			envs = append(envs, b)
		}
		return bytes.Equal(envs[0], envs[1]) && bytes.Equal(envs[1], envs[2])
	})

	// The leader probes: node a is up, b is down.
	testkit.Eventually(t, 10*time.Second, "health verdicts", func() bool {
		s := others[0].current()
		return s.Node("a").Health == cluster.Up && s.Node("b").Health == cluster.Down
	})

	first.stop()
	next := leader(others)
	t.Logf("leader %s stopped; %s took over", first.d.cfg.Name, next.d.cfg.Name)

	for _, h := range others {
		s := h.current()
		if s.ConfigVersion != res.ConfigVersion || s.Config.Nodes[0].Weight != 60 || !s.Node("b").Drained || s.Version < drained.Version {
			t.Errorf("%s after failover: config %d weight %d drained %v version %d", h.d.cfg.Name, s.ConfigVersion, s.Config.Nodes[0].Weight, s.Node("b").Drained, s.Version)
		}
		var hist []api.ConfigVersion
		h.adminJSON(http.MethodGet, api.PathHistory, nil, &hist)
		if len(hist) != 2 || hist[0].Author != testOperator {
			t.Errorf("%s history after failover: %+v", h.d.cfg.Name, hist)
		}
		var st api.Status
		h.adminJSON(http.MethodGet, api.PathStatus, nil, &st)
		if st.Leader != next.d.cfg.Name {
			t.Errorf("%s shows leader %q, want %q", h.d.cfg.Name, st.Leader, next.d.cfg.Name)
		}
	}

	// The new leader runs the health checks: node a going down is seen.
	live.Close()
	testkit.Eventually(t, 10*time.Second, "node a down under the new leader", func() bool {
		s := others[0].current()
		return s.Node("a").Health == cluster.Down && strings.HasPrefix(s.Node("a").Reason, "2 failures")
	})
	// And the survivors still accept changes.
	var res2 api.ChangeResult
	others[1].adminJSON(http.MethodPost, api.PathConfig, []byte(strings.Replace(applied, "weight: 60", "weight: 61", 1)), &res2)
	if res2.ConfigVersion != res.ConfigVersion+1 {
		t.Errorf("change after failover: config version %d, want %d", res2.ConfigVersion, res.ConfigVersion+1)
	}
}

// TestExternalEtcd runs a second director on the first one's etcd as an
// external cluster: it finds the site without a site file, serves the same
// snapshots, and its changes reach the first.
func TestExternalEtcd(t *testing.T) {
	clientURL := "http://" + testkit.FreeAddr(t)
	h1 := startDirector(t, Config{Name: "d1", SiteData: []byte(siteDown(t, 1)),
		Etcd: EtcdConfig{DataDir: t.TempDir(), ClientURL: clientURL}})
	h2 := startDirector(t, Config{Name: "d2", Etcd: EtcdConfig{Endpoints: []string{clientURL}}})
	if h2.d.Site() != testSite {
		t.Fatalf("external director found site %q, want %q", h2.d.Site(), testSite)
	}
	_, text := h2.admin(http.MethodGet, api.PathConfig, nil)
	var res api.ChangeResult
	h2.adminJSON(http.MethodPost, api.PathConfig, []byte(strings.Replace(string(text), "weight: 100", "weight: 3", 1)), &res)
	testkit.Eventually(t, 5*time.Second, "change seen by the first director", func() bool {
		s := h1.current()
		return s.ConfigVersion == res.ConfigVersion && s.Config.Nodes[0].Weight == 3
	})
}
