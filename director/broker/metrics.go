package broker

import (
	"context"
	"time"

	"github.com/meridian-traffic/meridian/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// sessionMetrics are the meridian_director_sessions_* series.
type sessionMetrics struct {
	requests *prometheus.CounterVec // by operation and HTTP status code
	created  prometheus.Counter
	moved    *prometheus.CounterVec // parties given a new home because theirs left, by party
}

// activeTimeout bounds the store count behind the active-sessions gauge,
// so a scrape never hangs on a store that is away.
const activeTimeout = 2 * time.Second

func (b *Broker) newSessionMetrics(reg prometheus.Registerer) (*sessionMetrics, error) {
	m := &sessionMetrics{
		requests: metrics.CounterVec("meridian_director_sessions_requests_total",
			"Session API requests, by operation and HTTP status code (401 token, 429 rate limit).", "op", "code"),
		created: metrics.Counter("meridian_director_sessions_created_total",
			"Sessions created by this director."),
		moved: metrics.CounterVec("meridian_director_sessions_moved_total",
			"Session parties given a new home node because theirs left (down, drained, not accepting), by party.", "party"),
	}
	// Counted in the store at scrape time: sessions end by lease expiry on
	// any director, so no counter here could follow them.
	active := metrics.GaugeFunc("meridian_director_sessions_active",
		"Sessions in the store (every director of the site sees the same); -1 when the store is unavailable.", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), activeTimeout)
			defer cancel()
			resp, err := b.site.Client().Get(ctx, b.site.Keys.Sessions(), clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return -1
			}
			return float64(resp.Count)
		})
	return m, metrics.Register(reg, "director", m.requests, m.created, m.moved, active)
}
