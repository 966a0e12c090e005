package relay

import (
	"net/netip"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AllocationStats is one allocation's accounting. "To peer" is what the
// client sent through the relay; "to client" is what peers sent back.
type AllocationStats struct {
	ID              uint64
	User            string // the USER part of the credential
	Client          netip.AddrPort
	Relayed         netip.AddrPort
	Start           time.Time
	End             time.Time // zero while live
	ToPeerBytes     uint64
	ToPeerPackets   uint64
	ToClientBytes   uint64
	ToClientPackets uint64
	Dropped         uint64 // packets dropped by a bandwidth cap or the peer filter
}

// Stats is a snapshot of the relay's accounting, for the node agent's
// heartbeat (api.RelayStats: Allocations, BytesIn = ToPeerBytes, BytesOut
// = ToClientBytes, Refused) and `ctl clients`.
type Stats struct {
	Allocations      int    // live
	AllocationsTotal uint64 // ever made
	Users            map[string]int
	ToPeerBytes      uint64
	ToPeerPackets    uint64
	ToClientBytes    uint64
	ToClientPackets  uint64
	Dropped          uint64
	Refused          uint64
	RefusedBy        map[string]uint64
	Draining         bool
	Live             []AllocationStats // by ID
}

// Stats returns the relay's accounting now: node totals include live and
// ended allocations.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	live := make([]*relayConn, 0, len(r.live))
	for _, c := range r.live {
		live = append(live, c)
	}
	s := Stats{
		Allocations:     len(r.live),
		Users:           make(map[string]int, len(r.perUser)),
		ToPeerBytes:     r.ended.toPeerBytes,
		ToPeerPackets:   r.ended.toPeerPackets,
		ToClientBytes:   r.ended.toClientBytes,
		ToClientPackets: r.ended.toClientPackets,
		Dropped:         r.ended.dropped,
	}
	for u, n := range r.perUser {
		s.Users[u] = n
	}
	r.mu.Unlock()
	s.AllocationsTotal = r.allocs.Load()
	s.Draining = r.Draining()
	s.Live = make([]AllocationStats, 0, len(live))
	for _, c := range live {
		a := c.stats()
		s.Live = append(s.Live, a)
		s.ToPeerBytes += a.ToPeerBytes
		s.ToPeerPackets += a.ToPeerPackets
		s.ToClientBytes += a.ToClientBytes
		s.ToClientPackets += a.ToClientPackets
		s.Dropped += a.Dropped
	}
	sort.Slice(s.Live, func(i, j int) bool { return s.Live[i].ID < s.Live[j].ID })
	s.RefusedBy = make(map[string]uint64, len(refusalReasons))
	for i, reason := range refusalReasons {
		n := r.refusals[i].Load()
		s.RefusedBy[reason] = n
		s.Refused += n
	}
	return s
}

// collector exports Stats as meridian_relay_* metrics at scrape time, so
// the packet paths only touch their own allocation's counters.
type collector struct{ r *Relay }

var (
	descAllocations      = prometheus.NewDesc("meridian_relay_allocations", "Live TURN allocations.", nil, nil)
	descAllocationsTotal = prometheus.NewDesc("meridian_relay_allocations_total", "TURN allocations made.", nil, nil)
	descBytes            = prometheus.NewDesc("meridian_relay_bytes_total", "Payload bytes relayed, by direction (to_peer, to_client).", []string{"direction"}, nil)
	descPackets          = prometheus.NewDesc("meridian_relay_packets_total", "Packets relayed, by direction (to_peer, to_client).", []string{"direction"}, nil)
	descDropped          = prometheus.NewDesc("meridian_relay_dropped_packets_total", "Packets dropped by a bandwidth cap or the peer filter.", nil, nil)
	descRefusals         = prometheus.NewDesc("meridian_relay_refusals_total", "Requests refused, by reason.", []string{"reason"}, nil)
	descDraining         = prometheus.NewDesc("meridian_relay_draining", "1 while the relay refuses new allocations.", nil, nil)
	descAcceptErrors     = prometheus.NewDesc("meridian_relay_accept_errors_total", "Temporary accept errors ridden out by the TCP and TLS listeners, by listener (tcp, tls).", []string{"listener"}, nil)
	descConnections      = prometheus.NewDesc("meridian_relay_connections", "Open TCP and TLS client connections, by listener (tcp, tls).", []string{"listener"}, nil)
	descConnsClosed      = prometheus.NewDesc("meridian_relay_connections_closed_total", "TCP and TLS client connections the relay closed, by listener and reason (auth_timeout: no allocation in time; slow_reader: a write timed out; bad_frame: not TURN framing).", []string{"listener", "reason"}, nil)
	descInvalid          = prometheus.NewDesc("meridian_relay_invalid_messages_total", "Datagrams and stream frames dropped as invalid, by listener (udp, tcp, tls) and reason (garbage, oversize).", []string{"listener", "reason"}, nil)
	descListenerUp       = prometheus.NewDesc("meridian_relay_listener_up", "1 while every socket of the listener (udp, tcp, tls) serves, 0 once one stopped.", []string{"listener"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAllocations, descAllocationsTotal, descBytes, descPackets, descDropped, descRefusals, descDraining, descAcceptErrors, descListenerUp, descConnections, descConnsClosed, descInvalid} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(descAllocations, prometheus.GaugeValue, float64(s.Allocations))
	ch <- prometheus.MustNewConstMetric(descAllocationsTotal, prometheus.CounterValue, float64(s.AllocationsTotal))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.ToPeerBytes), "to_peer")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.ToClientBytes), "to_client")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.ToPeerPackets), "to_peer")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.ToClientPackets), "to_client")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped))
	for reason, n := range s.RefusedBy {
		ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(n), reason)
	}
	draining := 0.0
	if s.Draining {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(descDraining, prometheus.GaugeValue, draining)

	udp := &c.r.udpInvalid
	ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, float64(udp.garbage.Load()), string(TransportUDP), invalidGarbage)
	ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, float64(udp.oversize.Load()), string(TransportUDP), invalidOversize)
	acceptErrors := map[Transport]uint64{}
	for _, l := range c.r.tcpListeners() {
		t := string(l.state.transport)
		acceptErrors[l.state.transport] += l.acceptErrors.Load()
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(l.open()), t)
		for i, reason := range closeReasons {
			ch <- prometheus.MustNewConstMetric(descConnsClosed, prometheus.CounterValue, float64(l.closes[i].Load()), t, reason)
		}
		ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, float64(l.invalid.garbage.Load()), t, invalidGarbage)
		ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, float64(l.invalid.oversize.Load()), t, invalidOversize)
	}
	for t, n := range acceptErrors {
		ch <- prometheus.MustNewConstMetric(descAcceptErrors, prometheus.CounterValue, float64(n), string(t))
	}
	up := map[Transport]float64{}
	for _, s := range c.r.serveStates() {
		if _, seen := up[s.transport]; !seen {
			up[s.transport] = 1
		}
		if s.failure() != nil {
			up[s.transport] = 0
		}
	}
	for t, v := range up {
		ch <- prometheus.MustNewConstMetric(descListenerUp, prometheus.GaugeValue, v, string(t))
	}
}
