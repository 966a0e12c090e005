package bgp

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the speaker's meridian_bgp_* series.
type metrics struct {
	session       *prometheus.GaugeVec   // neighbor → RFC 4271 state number, 6 = established
	announced     prometheus.Gauge       // prefixes announced now
	healthy       prometheus.Gauge       // local health as the speaker sees it
	announces     prometheus.Counter     // announce events
	withdraws     *prometheus.CounterVec // kind → withdraw events
	notifications *prometheus.CounterVec // neighbor, direction → NOTIFICATIONs
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		session: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meridian_bgp_session_state",
			Help: "BGP session state per neighbor: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established.",
		}, []string{"neighbor"}),
		announced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_bgp_announced_prefixes",
			Help: "Anycast prefixes the speaker announces now.",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_bgp_local_healthy",
			Help: "1 while the speaker's own local health check passes (after rise/fall).",
		}),
		announces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_bgp_announces_total",
			Help: "Times the speaker announced its anycast prefixes.",
		}),
		withdraws: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_bgp_withdraws_total",
			Help: "Times the speaker withdrew its anycast prefixes, by cause: health, drain, operator, shutdown.",
		}, []string{"reason"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_bgp_notifications_total",
			Help: "BGP NOTIFICATION messages per neighbor and direction (sent, received).",
		}, []string{"neighbor", "direction"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.session, m.announced, m.healthy, m.announces, m.withdraws, m.notifications} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("bgp metrics: %w (one speaker per registerer)", err)
			}
			return nil, fmt.Errorf("bgp metrics: %w", err)
		}
	}
	return m, nil
}
