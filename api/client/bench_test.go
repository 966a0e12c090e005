package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// BenchmarkFanout measures, against a real director, the time from a
// change (a drain or undrain through the admin API) to the moment all 100
// subscribers hold the snapshot that carries it. It reports the median and
// the 99th percentile over b.N changes.
func BenchmarkFanout(b *testing.B) {
	const subscribers = 100
	d := clienttest.Start(b, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: testkit.FreeAddr(b)}))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	held := make([]atomic.Uint64, subscribers)
	for i := range subscribers {
		s, err := client.NewSubscriber(client.SubscriberConfig{Director: d.URL, PSK: d.PSK, ID: fmt.Sprintf("dns/b%d", i), Kind: api.KindDNS,
			OnSnapshot: func(s *cluster.Snapshot) { held[i].Store(s.Version) }})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = s.Run(ctx) })
	}
	minHeld := func() uint64 {
		m := held[0].Load()
		for i := range held {
			m = min(m, held[i].Load())
		}
		return m
	}
	testkit.Eventually(b, 30*time.Second, "every subscriber synced", func() bool { return minHeld() > 0 })
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		change := adm.Drain
		if i%2 == 1 {
			change = adm.Undrain
		}
		res, err := change(ctx, "n1")
		if err != nil {
			b.Fatal(err)
		}
		for minHeld() < res.Version {
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("version %d not everywhere after 10s", res.Version)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}
