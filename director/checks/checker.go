package checks

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/meridian-traffic/meridian/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
)

// Probe checks one health target once; a nil error is a success. ctx
// carries the check's timeout.
type Probe func(ctx context.Context, hc cluster.HealthCheck) error

// Config is what the checks take of the director's configuration.
type Config struct {
	Name        string // the director, as it campaigns
	ElectionTTL int    // the leader lease in seconds
	// TURNProbe runs checks of kind "turn"; nil connects over TCP.
	TURNProbe Probe
}

// Checker campaigns for the site's leadership and, while it leads, probes
// the nodes and masters of the published snapshot and stores their
// health.
type Checker struct {
	cfg     Config
	log     *slog.Logger
	met     *Metrics
	site    *store.Site
	pub     *publish.Publisher
	leading atomic.Bool
}

// New returns a checker of site's published snapshots; Run starts it.
func New(cfg Config, site *store.Site, pub *publish.Publisher, met *Metrics, log *slog.Logger) *Checker {
	return &Checker{cfg: cfg, log: log, met: met, site: site, pub: pub}
}

// Leading reports whether this director leads and runs the nodes' health
// checks now (every director probes the masters).
func (c *Checker) Leading() bool { return c.leading.Load() }

// Metrics are the checks' meridian_director_* series, registered when the
// director is created.
type Metrics struct {
	checks  *prometheus.CounterVec // health check results by kind and result
	leading prometheus.Gauge       // 1 while this director runs the health checks
}

// NewMetrics registers the checks' metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		checks: metrics.CounterVec("meridian_director_health_checks_total",
			"Health probes run by this director, by kind and result.", "kind", "result"),
		leading: metrics.Gauge("meridian_director_leader",
			"1 while this director is the elected leader running the health checks."),
	}
	if err := metrics.Register(reg, "director", m.checks, m.leading); err != nil {
		return nil, err
	}
	return m, nil
}
