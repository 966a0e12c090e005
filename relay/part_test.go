package relay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	dirapi "github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

func partSnapshot(t *testing.T, udpPort int, drained bool) (*cluster.Snapshot, *cluster.Node) {
	t.Helper()
	return testSnapshot(t, fmt.Sprintf(`  - {name: a, ipv4: 127.0.0.41, internal: "127.0.0.41:7801", relay: {udp_port: %d, tcp_port: %d}}
  - {name: b, ipv4: 127.0.0.42, internal: "127.0.0.42:7801"}
`, udpPort, udpPort),
		cluster.NodeState{Name: "a", Health: cluster.Up, Drained: drained}, cluster.NodeState{Name: "b", Health: cluster.Up})
}

// TestPart follows a node through start, drain, a port change (restart,
// metrics registered again) and removal.
func TestPart(t *testing.T) {
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	p := startPart(t, Config{Registerer: reg})
	probe := func() error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return p.Probe(pctx)
	}

	steps := []struct {
		name     string
		port     int
		drained  bool
		removed  bool
		running  bool
		draining bool
	}{
		{"start", 3481, false, false, true, false},
		{"drain", 3481, true, false, true, true},
		{"undrain", 3481, false, false, true, false},
		{"port change restarts", 3482, false, false, true, false},
		{"removed", 0, false, true, false, false},
	}
	for _, s := range steps {
		if s.removed {
			p.Apply(ctx, nil, nil)
		} else {
			snap, self := partSnapshot(t, s.port, s.drained)
			p.Apply(ctx, snap, self)
		}
		r := p.Relay()
		if (r != nil) != s.running {
			t.Fatalf("%s: relay running = %v, want %v", s.name, r != nil, s.running)
		}
		if !s.running {
			if err := probe(); err == nil {
				t.Fatalf("%s: probe succeeded with no relay", s.name)
			}
			continue
		}
		if got := r.UDPAddr().String(); got != fmt.Sprintf("127.0.0.41:%d", s.port) {
			t.Errorf("%s: relay on %s", s.name, got)
		}
		if r.Draining() != s.draining {
			t.Errorf("%s: draining = %v, want %v", s.name, r.Draining(), s.draining)
		}
		// Alive while draining too: the BGP speaker must not take the
		// drain's refusal for a failure.
		if err := probe(); err != nil {
			t.Errorf("%s: probe: %v", s.name, err)
		}
		if err := p.Check(ctx); err != nil {
			t.Errorf("%s: check: %v", s.name, err)
		}
		var hb dirapi.Heartbeat
		p.Heartbeat(&hb)
		if hb.Relay == nil {
			t.Errorf("%s: heartbeat has no relay stats", s.name)
		}
		mfs, err := reg.Gather()
		if err != nil || len(mfs) == 0 {
			t.Errorf("%s: metrics: %d families, %v", s.name, len(mfs), err)
		}
	}
}
