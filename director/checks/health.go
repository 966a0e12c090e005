package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/health"
)

// target is one probed node or master.
type target struct {
	key    string // the state record key
	name   string
	hc     cluster.HealthCheck
	state  cluster.Health // state in the snapshot when the check started
	cancel context.CancelFunc
	done   chan struct{}
}

// runHealth runs the health checks while this director leads. It follows
// config changes: a target whose check changed restarts, one removed stops.
func (c *Checker) runHealth(ctx context.Context) {
	running := map[string]*target{}
	defer func() {
		for _, t := range running {
			t.cancel()
			<-t.done
		}
	}()
	for {
		p := c.pub.Current()
		if p.Snap != nil {
			want := c.targets(p.Snap)
			for key, t := range running {
				if w, ok := want[key]; !ok || w.hc != t.hc {
					t.cancel()
					<-t.done
					delete(running, key)
				}
			}
			for key, w := range want {
				if _, ok := running[key]; ok {
					continue
				}
				tctx, cancel := context.WithCancel(ctx)
				w.cancel, w.done = cancel, make(chan struct{})
				running[key] = w
				go func() {
					defer close(w.done)
					c.probeLoop(tctx, w)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.Next():
		}
	}
}

// targets lists what a snapshot asks to probe, keyed by state record key.
func (c *Checker) targets(s *cluster.Snapshot) map[string]*target {
	out := map[string]*target{}
	for _, n := range s.Config.Nodes {
		k := c.site.Keys.Node(n.Name)
		out[k] = &target{key: k, name: n.Name, hc: n.Health, state: s.Node(n.Name).Health}
	}
	ms := []cluster.Master{s.Config.Masters.Primary}
	if b := s.Config.Masters.Backup; b != nil {
		ms = append(ms, *b)
	}
	for _, m := range ms {
		k := c.site.Keys.Master(m.Name)
		out[k] = &target{key: k, name: m.Name, hc: m.Health, state: s.Master(m.Name).Health}
	}
	return out
}

// probeLoop probes one target every interval and stores state changes.
func (c *Checker) probeLoop(ctx context.Context, t *target) {
	h := health.NewRiseFall(t.hc.Rise, t.hc.Fall, t.state)
	tick := time.NewTicker(t.hc.Interval.D())
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, t.hc.Timeout.D())
		err := c.probe(pctx, t.hc)
		cancel()
		if ctx.Err() != nil {
			return
		}
		result := "success"
		if err != nil {
			result = "failure"
		}
		c.met.checks.WithLabelValues(string(t.hc.Kind), result).Inc()
		prev := h.State()
		if changed, reason := h.Observe(err); changed {
			if werr := c.storeHealth(ctx, t.key, h.State(), reason); werr != nil {
				// Not stored: forget the verdict so the next probe retries.
				h.Set(prev)
				if ctx.Err() == nil {
					c.log.Warn("health change not stored", "target", t.name, "err", werr)
				}
			} else {
				c.log.Info("health changed", "target", t.name, "health", h.State(), "reason", reason)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *Checker) storeHealth(ctx context.Context, key string, health cluster.Health, reason string) error {
	_, err := c.site.UpdateState(ctx, key, func(r *store.StateRecord) bool {
		if r.Health == health {
			return false
		}
		r.Health, r.Since, r.Reason = health, time.Now().UTC(), reason
		return true
	})
	return err
}

// probe runs one check. ctx carries its timeout.
func (c *Checker) probe(ctx context.Context, hc cluster.HealthCheck) error {
	switch hc.Kind {
	case cluster.HealthTCP:
		return probeTCP(ctx, hc)
	case cluster.HealthHTTP, cluster.HealthHTTPS:
		return c.probeHTTP(ctx, hc)
	case cluster.HealthTLS:
		return probeTLS(ctx, hc)
	case cluster.HealthTURN:
		if c.cfg.TURNProbe != nil {
			return c.cfg.TURNProbe(ctx, hc)
		}
		return probeTCP(ctx, hc)
	}
	return fmt.Errorf("unknown health check kind %q", hc.Kind)
}

func probeTCP(ctx context.Context, hc cluster.HealthCheck) error {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", hc.Target)
	if err != nil {
		return err
	}
	return c.Close()
}

func probeTLS(ctx context.Context, hc cluster.HealthCheck) error {
	host, _, _ := net.SplitHostPort(hc.Target)
	dl := tls.Dialer{Config: probeTLSConfig(host)}
	c, err := dl.DialContext(ctx, "tcp", hc.Target)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeTLSConfig does not verify the peer: a probe asks whether the node
// serves, and node certificates name the public host, not the internal
// address probed.
func probeTLSConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // liveness probe, see above
}

func (c *Checker) probeHTTP(ctx context.Context, hc cluster.HealthCheck) error {
	scheme := "http"
	if hc.Kind == cluster.HealthHTTPS {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+hc.Target+hc.Path, nil)
	if err != nil {
		return fmt.Errorf("health request: %w", err)
	}
	resp, err := c.probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != hc.Expect {
		return fmt.Errorf("http status %d, want %d", resp.StatusCode, hc.Expect)
	}
	return nil
}

// newProbeClient opens a fresh connection for every probe: a kept-alive
// connection would hide a listener that stopped accepting.
func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   probeTLSConfig(""),
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
