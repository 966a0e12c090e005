package meridian

import (
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meridian-traffic/meridian/cluster"
)

// TestConcurrentQueries runs queries of every kind from many goroutines
// while new snapshots are installed: with -race it checks that answers
// share the view's records without writing to them.
func TestConcurrentQueries(t *testing.T) {
	snaps := []*cluster.Snapshot{
		testSnapshot(t, cluster.MethodGeo, nil),
		testSnapshot(t, cluster.MethodGeo, health{"us1": cluster.Down, "master1": cluster.Down}),
	}
	m := testPlugin(t, snaps[0], true)
	queries := []struct {
		qname string
		qtype uint16
	}{
		{traffic, dns.TypeA}, {traffic, dns.TypeAAAA}, {traffic, dns.TypeANY},
		{support, dns.TypeA}, {support, dns.TypeSOA}, {support, dns.TypeNS},
		{"_turn._udp." + traffic, dns.TypeSRV}, {"_explain." + traffic, dns.TypeTXT},
		{"us1.support.example.com.", dns.TypeANY}, {"x." + traffic, dns.TypeA},
	}
	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Add(1)
	go func() {
		defer swaps.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := snaps[i%2]
			m.view.Store(newView(s, cluster.NewEngine(s, testLocator), true))
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				q := queries[(g+i)%len(queries)]
				r := query(t, m, q.qname, q.qtype, "198.18.0.1", ecsOpt(1, 24, "10.2.3.0"))
				if _, err := r.Pack(); err != nil {
					t.Errorf("%s: %v", q.qname, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	swaps.Wait()
}

// TestMetrics checks the request and answer counters of a few queries.
func TestMetrics(t *testing.T) {
	m := testPlugin(t, testSnapshot(t, cluster.MethodGeo, nil), false)
	// Queries through query() carry no server in their context.
	prefix := requestCount.WithLabelValues("", "A", "prefix")
	sup := requestCount.WithLabelValues("", "AAAA", "support")
	nx := requestCount.WithLabelValues("", "A", "nxdomain")
	eu1 := answerCount.WithLabelValues("", "eu1")
	malformed := malformedCount.WithLabelValues("", string(errECSBits))
	before := []float64{testutil.ToFloat64(prefix), testutil.ToFloat64(sup), testutil.ToFloat64(nx), testutil.ToFloat64(eu1), testutil.ToFloat64(malformed)}

	query(t, m, traffic, dns.TypeA, "10.2.0.1", nil)
	query(t, m, traffic, dns.TypeA, "10.2.0.2", nil)
	query(t, m, support, dns.TypeAAAA, "10.2.0.1", nil)
	query(t, m, "x."+traffic, dns.TypeA, "10.2.0.1", nil)
	query(t, m, traffic, dns.TypeA, "10.2.0.1", ecsOpt(1, 16, "10.2.3.0"))

	after := []float64{testutil.ToFloat64(prefix), testutil.ToFloat64(sup), testutil.ToFloat64(nx), testutil.ToFloat64(eu1), testutil.ToFloat64(malformed)}
	want := []float64{2, 1, 1, 2, 1}
	for i := range want {
		if got := after[i] - before[i]; got != want[i] {
			t.Errorf("counter %d went up by %v, want %v", i, got, want[i])
		}
	}
}
