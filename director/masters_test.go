package director

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"

	"github.com/meridian-traffic/meridian/cluster"
)

// TestMastersProbedByEveryDirector: every director probes the masters and
// any of them stores a master's fall; only the leader stores a rise, and
// when it reaches a master another director stored down it stores it up
// again after rise passes. The master's check is of kind turn so that each
// director's probe can be told apart: the leader's always passes, the
// others' fail while failing is set.
func TestMastersProbedByEveryDirector(t *testing.T) {
	site := `# Test site: one master probed through the directors' TURN probes.
site: t
zone: z.example.
masters:
  primary:
    name: m1
    ipv4: 192.0.2.1
    internal: "192.0.2.1:7700"
    health: {kind: turn, target: "192.0.2.1:3478", interval: 100ms, timeout: 50ms, rise: 2, fall: 2}
selection: {method: random}
health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 2, fall: 2}
nodes:
  - name: a
    ipv4: 192.0.2.11
    internal: "` + testkit.FreeAddr(t) + `"
`
	var failing atomic.Bool
	hs := make([]*harness, 3)
	for i, e := range threeMembers(t) {
		var self atomic.Pointer[Director]
		hs[i] = startDirector(t, Config{Name: memberName(i), SiteData: []byte(site),
			TURNProbe: func(context.Context, cluster.HealthCheck) error {
				if d := self.Load(); failing.Load() && d != nil && !d.Leading() {
					return errors.New("unreachable from here")
				}
				return nil
			},
			Etcd: e,
		})
		self.Store(hs[i].d)
	}
	for _, h := range hs {
		h.waitReady()
	}
	testkit.Eventually(t, 20*time.Second, "m1 up", func() bool { return hs[0].current().Master("m1").Health == cluster.Up })
	testkit.Eventually(t, 10*time.Second, "every director probing m1", func() bool {
		for _, h := range hs {
			if h.counter("meridian_director_health_checks_total", "kind", "turn", "result", "success") == 0 {
				return false
			}
		}
		return true
	})

	failing.Store(true)
	testkit.Eventually(t, 10*time.Second, "m1 stored down by a director that is not the leader", func() bool {
		ms := hs[0].current().Master("m1")
		return ms.Health == cluster.Down && strings.HasPrefix(ms.Reason, "2 failures")
	})
	testkit.Eventually(t, 10*time.Second, "m1 stored up again by the leader", func() bool {
		ms := hs[0].current().Master("m1")
		return ms.Health == cluster.Up && strings.Contains(ms.Reason, "on the leader since it was stored down")
	})
	// The others' verdicts stay down without a new fall: nothing more is
	// stored while they keep failing.
	time.Sleep(time.Second)
	if ms := hs[0].current().Master("m1"); ms.Health != cluster.Up {
		t.Errorf("m1 flapped back to %s (%s)", ms.Health, ms.Reason)
	}
}
