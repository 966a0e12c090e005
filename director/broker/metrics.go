package broker

import (
	"context"
	"errors"
	"time"

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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_director_sessions_requests_total",
			Help: "Session API requests, by operation and HTTP status code (401 token, 429 rate limit).",
		}, []string{"op", "code"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_director_sessions_created_total",
			Help: "Sessions created by this director.",
		}),
		moved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_director_sessions_moved_total",
			Help: "Session parties given a new home node because theirs left (down, drained, not accepting), by party.",
		}, []string{"party"}),
	}
	// Counted in the store at scrape time: sessions end by lease expiry on
	// any director, so no counter here could follow them.
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "meridian_director_sessions_active",
		Help: "Sessions in the store (every director of the site sees the same); -1 when the store is unavailable.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), activeTimeout)
		defer cancel()
		resp, err := b.site.Client().Get(ctx, b.site.Keys.Sessions(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return -1
		}
		return float64(resp.Count)
	})
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.created, m.moved, active} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return m, errors.Join(errs...)
}
