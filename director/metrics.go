package director

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the meridian_director_* series.
type metrics struct {
	refused   *prometheus.CounterVec // auth refusals by reason
	snapshots prometheus.Counter     // snapshots published by this director
	waiters   prometheus.Gauge       // sync long-polls waiting now
	checks    *prometheus.CounterVec // health check results by kind and result
	leading   prometheus.Gauge       // 1 while this director runs the health checks
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_director_auth_refused_total",
			Help: "Requests refused by authentication, by reason.",
		}, []string{"reason"}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_director_snapshots_published_total",
			Help: "Snapshots this director built, signed and served.",
		}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_director_sync_waiters",
			Help: "Sync long-polls waiting for a newer snapshot.",
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_director_health_checks_total",
			Help: "Health probes run by this director, by kind and result.",
		}, []string{"kind", "result"}),
		leading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_director_leader",
			Help: "1 while this director is the elected leader running the health checks.",
		}),
	}
	for _, c := range []prometheus.Collector{m.refused, m.snapshots, m.waiters, m.checks, m.leading} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register director metrics (one registry per director): %w", err)
		}
	}
	return m, nil
}
