package meridian

import (
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/meridian-traffic/meridian/cluster"
)

// Metrics are package variables registered in the default registry, as
// CoreDNS's own plugins do; the prometheus plugin serves that registry.
var (
	requestCount = counterVec("requests_total",
		"Counter of requests for the site's names, by query type and the rule that answered.", "server", "type", "rule")

	answerCount = counterVec("answers_total",
		"Counter of traffic nodes put in traffic hostname answers, by node.", "server", "node")

	failOpenCount = counterVec("fail_open_total",
		"Counter of traffic answers given from accepting nodes whatever their health, because none was up.", "server")

	malformedCount = counterVec("malformed_requests_total",
		"Counter of requests answered FORMERR, by reason.", "server", "reason")

	unreadableCount = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "meridian", Name: "unreadable_requests_total",
		Help: "Counter of requests the DNS library could not read, answered FORMERR before any plugin, in every server block of the process.",
	})

	transferRefusedCount = counterVec("transfers_refused_total",
		"Counter of zone transfer requests (AXFR, IXFR) answered REFUSED, by type.", "server", "type")

	snapshotVersion = gaugeVec("snapshot_version",
		"Version of the snapshot being served.", "site")

	snapshotAge = gaugeVec("snapshot_age_seconds",
		"Seconds since the director published the snapshot being served.", "site")

	keyRefused = gaugeVec("key_refused",
		"1 while the director refuses the plugin's signed requests (a pre-shared key other than the director's, or a clock more than 30s off).", "site")

	syncErrorCount = counterVec("sync_errors_total",
		"Counter of failed snapshot fetches from the director.", "site")
)

// rule is the rule label of requestCount: the engine's rules, then the
// answers the engine does not make.
type rule uint8

const (
	ruleSupport rule = iota + rule(len(engineRules))
	ruleNode
	ruleSRV
	ruleExplain
	ruleApex
	ruleStatic
	ruleNoData
	ruleNXDomain
	ruleNoSnapshot
	ruleMalformed
	numRules
)

// engineRules are the labels of cluster.Rule values, by value.
var engineRules = [...]string{
	cluster.RuleNone:       "none",
	cluster.RulePrefix:     "prefix",
	cluster.RuleRandom:     "random",
	cluster.RuleGeo:        "geo",
	cluster.RuleGeoUnknown: "geo_unknown",
	cluster.RuleTimezone:   "timezone",
	cluster.RuleSRV:        "srv",
	cluster.RuleAnycast:    "anycast",
}

var ruleLabels = func() [numRules]string {
	var l [numRules]string
	copy(l[:], engineRules[:])
	for r, s := range map[rule]string{
		ruleSupport: "support", ruleNode: "node", ruleSRV: "srv_records", ruleExplain: "explain",
		ruleApex: "apex", ruleStatic: "static", ruleNoData: "nodata", ruleNXDomain: "nxdomain",
		ruleNoSnapshot: "no_snapshot", ruleMalformed: "malformed",
	} {
		l[r] = s
	}
	return l
}()

// engineRule returns the label of an engine rule.
func engineRule(r cluster.Rule) rule {
	if int(r) < len(engineRules) {
		return rule(r)
	}
	return rule(cluster.RuleNone)
}

// qtypes are the query types with their own label; others are "other", as
// in CoreDNS's own request metrics.
var qtypes = [...]uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT, dns.TypeSOA, dns.TypeNS,
	dns.TypeANY, dns.TypeCNAME, dns.TypeMX, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeCAA,
}

const numQtypes = len(qtypes) + 1 // and "other"

func qtypeIndex(t uint16) int {
	for i, q := range qtypes {
		if q == t {
			return i
		}
	}
	return len(qtypes)
}

func qtypeLabel(i int) string {
	if i < len(qtypes) {
		return dns.TypeToString[qtypes[i]]
	}
	return "other"
}

// counterRef holds a labelled counter once looked up.
type counterRef struct{ c prometheus.Counter }

// counters caches the labelled request counters of one server, so that a
// query increments a counter without hashing labels or taking the vector's
// lock. Children are made on first use, so only used label sets appear.
type counters struct {
	server string
	req    [numQtypes][numRules]atomic.Pointer[counterRef]
}

func (c *counters) request(qtype uint16, r rule) prometheus.Counter {
	q := qtypeIndex(qtype)
	slot := &c.req[q][r]
	if ref := slot.Load(); ref != nil {
		return ref.c
	}
	ref := &counterRef{requestCount.WithLabelValues(c.server, qtypeLabel(q), ruleLabels[r])}
	slot.Store(ref)
	return ref.c
}

// countRequest counts one request. The first server the plugin answers
// for gets the cached counters; another (a server block on two ports)
// takes the slower labelled lookup.
func (m *Meridian) countRequest(server string, qtype uint16, r rule) {
	c := m.counters.Load()
	if c == nil {
		c = &counters{server: server}
		if !m.counters.CompareAndSwap(nil, c) {
			c = m.counters.Load()
		}
	}
	if c.server == server {
		c.request(qtype, r).Inc()
		return
	}
	requestCount.WithLabelValues(server, qtypeLabel(qtypeIndex(qtype)), ruleLabels[r]).Inc()
}

// countAnswer counts a node put in a traffic answer; n caches the counter
// for the first server.
func (m *Meridian) countAnswer(server string, n *nodeRRs, name string) {
	if c := m.counters.Load(); c != nil && c.server == server && n != nil {
		ref := n.answers.Load()
		if ref == nil {
			ref = &counterRef{answerCount.WithLabelValues(server, name)}
			n.answers.Store(ref)
		}
		ref.c.Inc()
		return
	}
	answerCount.WithLabelValues(server, name).Inc()
}

// counterVec and gaugeVec declare a coredns_meridian_* series in the
// default registry.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "meridian", Name: name, Help: help,
	}, labels)
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "meridian", Name: name, Help: help,
	}, labels)
}
