package director

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// benchSubscribers is the number of concurrent subscribers of issue 3's
// benchmark.
const benchSubscribers = 100

// BenchmarkApplyToSubscribers measures the time from an apply (POST of a
// changed site file) to the moment every one of 100 long-polling
// subscribers holds and has verified the new version. It reports the
// median and the 99th percentile:
//
//	go test ./director -run '^$' -bench ApplyToSubscribers -benchtime 200x
func BenchmarkApplyToSubscribers(b *testing.B) {
	live := testkit.Accepting(b)
	site := testkit.SiteYAML(live.Addr().String(), testkit.FreeAddr(b), testkit.FreeAddr(b), testkit.FreeAddr(b))
	site = strings.Replace(site, "192.0.2.1, internal", "192.0.2.1, health: {kind: tcp}, internal", 1)
	h := startDirector(b, Config{SiteData: []byte(site)})
	testkit.Eventually(b, 10*time.Second, "health verdicts settled", func() bool {
		s := h.current()
		return s.Node("a").Health == cluster.Down && s.Node("c").Health == cluster.Down && s.Master("m1").Health == cluster.Up
	})

	ctx, cancel := context.WithCancel(context.Background())
	held := make([]atomic.Uint64, benchSubscribers)
	notify := make(chan struct{}, 1)
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * benchSubscribers}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for i := range benchSubscribers {
		wg.Go(func() { benchSubscriber(ctx, b, h, tr, fmt.Sprintf("dns/%03d", i), &held[i], notify) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// All subscribers hold the current version before the clock starts.
	start := h.current().Version
	waitAll(b, held, start, notify)

	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Consecutive applies always differ, so each stores a version.
		body := strings.Replace(site, "weight: 100", fmt.Sprintf("weight: %d", 1+i%99), 1)
		t0 := time.Now()
		var res api.ChangeResult
		h.adminJSON(http.MethodPost, api.PathConfig, []byte(body), &res)
		waitAll(b, held, res.Version, notify)
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[(len(took)*99)/100]), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}

// waitAll waits until every subscriber holds version v.
func waitAll(b *testing.B, held []atomic.Uint64, v uint64, notify <-chan struct{}) {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		all := true
		for i := range held {
			if held[i].Load() < v {
				all = false
				break
			}
		}
		if all {
			return
		}
		select {
		case <-notify:
		case <-deadline.C:
			b.Fatalf("subscribers did not all reach version %d within 30s", v)
		}
	}
}

// benchSubscriber is a minimal subscriber: signed long-polls, verified
// snapshots.
func benchSubscriber(ctx context.Context, b *testing.B, h *harness, tr *http.Transport, id string, held *atomic.Uint64, notify chan<- struct{}) {
	auth := cluster.NewRequestAuth(h.psk)
	signer := cluster.NewSnapshotSigner(h.psk, testSite)
	c := &http.Client{Transport: tr}
	for ctx.Err() == nil {
		path := syncPath(held.Load(), id, api.KindDNS, 30*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Authorization", auth.Header(http.MethodGet, path, nil, time.Now(), nonce()))
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				b.Error(err)
			}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode == http.StatusNoContent {
			continue
		}
		if resp.StatusCode != http.StatusOK {
			b.Errorf("%s: status %d: %s", id, resp.StatusCode, body)
			return
		}
		s, err := signer.Verify(body, held.Load())
		if err != nil {
			b.Errorf("%s: %v", id, err)
			return
		}
		held.Store(s.Version)
		select {
		case notify <- struct{}{}:
		default:
		}
	}
}
