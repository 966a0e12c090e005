package publish

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
)

// Config is what the publisher takes of the director's configuration.
type Config struct {
	Name         string        // the director, in heartbeats and history keys
	SyncWait     time.Duration // longest long-poll
	LagAfter     time.Duration // when a subscriber holding an older version lags
	HeartbeatTTL time.Duration // how long a heartbeat is kept
	HistoryLimit int           // newest status history events kept
}

// Publisher keeps the site's signed snapshot current and serves it to
// subscribers: the sync long-poll, heartbeats, the subscriber registry
// and "sync now" with its status history.
type Publisher struct {
	cfg    Config
	log    *slog.Logger
	met    *Metrics
	site   *store.Site
	signer *cluster.SnapshotSigner

	cur      atomic.Pointer[Published]
	subs     *registry
	versions versionLog    // versions published, to count a subscriber's lag
	stopping chan struct{} // closed by EndPolls
	stopOnce sync.Once
	// historySeq keeps status history keys unique within one nanosecond.
	historySeq atomic.Uint64
	// The shared heartbeat lease (see heartbeatLease).
	hbMu    sync.Mutex
	hbLease clientv3.LeaseID
	hbUntil time.Time
}

// New returns a publisher of site that serves nothing until the first
// Refresh.
func New(cfg Config, site *store.Site, signer *cluster.SnapshotSigner, met *Metrics, log *slog.Logger) *Publisher {
	p := &Publisher{cfg: cfg, log: log, met: met, site: site, signer: signer, subs: newRegistry(), stopping: make(chan struct{})}
	p.cur.Store(&Published{next: make(chan struct{})})
	return p
}

// EndPolls answers the waiting long-polls and every later one at once:
// the director stops.
func (p *Publisher) EndPolls() { p.stopOnce.Do(func() { close(p.stopping) }) }

// Metrics are the publisher's meridian_director_* series. They are
// registered when the director is created, before it runs.
type Metrics struct {
	snapshots prometheus.Counter // snapshots published by this director
	waiters   prometheus.Gauge   // sync long-polls waiting now
}

// NewMetrics registers the publisher's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		snapshots: metrics.Counter("meridian_director_snapshots_published_total",
			"Snapshots this director built, signed and served."),
		waiters: metrics.Gauge("meridian_director_sync_waiters",
			"Sync long-polls waiting for a newer snapshot."),
	}
	if err := metrics.Register(reg, "director", m.snapshots, m.waiters); err != nil {
		return nil, err
	}
	return m, nil
}
