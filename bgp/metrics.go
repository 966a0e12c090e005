package bgp

import (
	"github.com/meridian-traffic/meridian/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// speakerMetrics are the speaker's meridian_bgp_* series.
type speakerMetrics struct {
	session       *prometheus.GaugeVec   // neighbor → RFC 4271 state number, 6 = established
	announced     prometheus.Gauge       // prefixes announced now
	healthy       prometheus.Gauge       // local health as the speaker sees it
	announces     prometheus.Counter     // announce events
	withdraws     *prometheus.CounterVec // kind → withdraw events
	notifications *prometheus.CounterVec // neighbor, direction → NOTIFICATIONs
}

func newMetrics(reg prometheus.Registerer) (*speakerMetrics, error) {
	m := &speakerMetrics{
		session: metrics.GaugeVec("meridian_bgp_session_state",
			"BGP session state per neighbor: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established.", "neighbor"),
		announced: metrics.Gauge("meridian_bgp_announced_prefixes",
			"Anycast prefixes the speaker announces now."),
		healthy: metrics.Gauge("meridian_bgp_local_healthy",
			"1 while the speaker's own local health check passes (after rise/fall)."),
		announces: metrics.Counter("meridian_bgp_announces_total",
			"Times the speaker announced its anycast prefixes."),
		withdraws: metrics.CounterVec("meridian_bgp_withdraws_total",
			"Times the speaker withdrew its anycast prefixes, by cause: health, drain, operator, shutdown.", "reason"),
		notifications: metrics.CounterVec("meridian_bgp_notifications_total",
			"BGP NOTIFICATION messages per neighbor and direction (sent, received).", "neighbor", "direction"),
	}
	if err := metrics.Register(reg, "bgp speaker", m.session, m.announced, m.healthy, m.announces, m.withdraws, m.notifications); err != nil {
		return nil, err
	}
	return m, nil
}
