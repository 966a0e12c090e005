package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
)

// Defaults of Config.
const (
	DefaultHeartbeatEvery = 5 * time.Second
	// CacheFileName is the snapshot cache inside Config.CacheDir.
	CacheFileName = "snapshot.json"
)

// Config configures an Agent. Zero values are defaults.
type Config struct {
	Name string // this node's name in the site; also its subscriber id. Required.
	// Directors are the site's director base URLs, e.g.
	// http://10.0.0.1:7700; sync and heartbeats move to the next one when
	// the one in use fails (see client.SubscriberConfig.Directors). When
	// Directors is empty, Director is the only one; one of them is required.
	Directors []string
	Director  string      // a single director base URL; Directors wins when set
	PSK       cluster.PSK // the site's pre-shared key. Required.
	Site      string      // expected site; "" pins the first verified one
	CacheDir  string      // holds the last-known-good snapshot; "" keeps none
	// HealthListen is the host:port of the health endpoint; "" listens on
	// the node's internal address from the first snapshot that has it.
	HealthListen   string
	HeartbeatEvery time.Duration // default 5s
	HTTPClient     *http.Client  // for the director; nil = client.DefaultHTTPClient()
	Logger         *slog.Logger  // nil = discard
	Parts          []Part        // relay, BGP speaker: told of every snapshot and heartbeat
	Metrics        http.Handler  // served at GET /metrics on the health endpoint when set
	// Registerer, when set, gets the agent's own meridian_node_* metrics
	// (serve them through Metrics).
	Registerer prometheus.Registerer

	// SyncWait, MinBackoff and MaxBackoff tune the subscriber (see
	// client.SubscriberConfig); zero values are its defaults.
	SyncWait, MinBackoff, MaxBackoff time.Duration
	// LoadAvgFile is read for the heartbeat's load (default /proc/loadavg).
	LoadAvgFile string
}

// Agent is a running node agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	sub     *client.Subscriber
	changed chan struct{} // a new snapshot or a removal; coalesced

	started    time.Time
	healthAddr atomic.Pointer[string]
	running    atomic.Bool

	partsMu sync.Mutex // Part calls never run concurrently
}

// New checks cfg and returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.Name == "" {
		return nil, errors.New("node: a name is required")
	}
	if cfg.HeartbeatEvery < 0 {
		return nil, errors.New("node: negative heartbeat interval")
	}
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.HealthListen != "" {
		if _, _, err := net.SplitHostPort(cfg.HealthListen); err != nil {
			return nil, fmt.Errorf("node: health listen %q: %w", cfg.HealthListen, err)
		}
	}
	if cfg.LoadAvgFile == "" {
		cfg.LoadAvgFile = "/proc/loadavg"
	}
	for i, p := range cfg.Parts {
		if p == nil {
			return nil, fmt.Errorf("node: part %d is nil", i)
		}
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, changed: make(chan struct{}, 1)}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	cache := ""
	if cfg.CacheDir != "" {
		cache = filepath.Join(cfg.CacheDir, CacheFileName)
	}
	sub, err := client.NewSubscriber(client.SubscriberConfig{
		Directors:  cfg.Directors,
		Director:   cfg.Director,
		PSK:        cfg.PSK,
		Site:       cfg.Site,
		ID:         cfg.Name,
		Kind:       api.KindNode,
		CacheFile:  cache,
		HTTPClient: cfg.HTTPClient,
		Logger:     a.log,
		OnSnapshot: func(*cluster.Snapshot) { a.poke() },
		OnRemoved:  a.poke,
		Wait:       cfg.SyncWait,
		MinBackoff: cfg.MinBackoff,
		MaxBackoff: cfg.MaxBackoff,
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", cfg.Name, err)
	}
	a.sub = sub
	if cfg.Registerer != nil {
		if err := a.registerMetrics(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("node %s: %w", cfg.Name, err)
		}
	}
	return a, nil
}

// registerMetrics registers the agent's gauges, read from the subscriber
// at every scrape.
func (a *Agent) registerMetrics(reg prometheus.Registerer) error {
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	return metrics.Register(reg, "node agent",
		metrics.GaugeFunc("meridian_node_key_refused",
			"1 while the director refuses the agent's signed requests (401: a pre-shared key other than the director's, or a clock more than 30s off).",
			func() float64 { return flag(a.sub.Stats().KeyRefused) }),
		metrics.GaugeFunc("meridian_node_snapshot_version",
			"Version of the snapshot the agent serves, 0 for none.",
			func() float64 { return float64(a.sub.Stats().Version) }),
		metrics.GaugeFunc("meridian_node_director_reachable",
			"1 while the director in use answers the agent's requests.",
			func() float64 { return flag(a.sub.Stats().Reachable) }))
}

// poke wakes the run loop; a pending wake-up already covers this one.
func (a *Agent) poke() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Current returns the snapshot the agent serves, or nil.
func (a *Agent) Current() *cluster.Snapshot { return a.sub.Current() }

// Stats returns the agent's sync statistics.
func (a *Agent) Stats() client.SubscriberStats { return a.sub.Stats() }

// HealthAddr returns the address the health endpoint listens on, or ""
// before it listens.
func (a *Agent) HealthAddr() string {
	if p := a.healthAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// Run runs the agent until ctx is done and returns nil then, or an error
// if the health endpoint cannot listen. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("node: Run called twice")
	}
	a.started = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	hs := newHealthServer(a)
	defer hs.stop()
	if a.cfg.HealthListen != "" {
		if err := a.listen(hs, a.cfg.HealthListen); err != nil {
			return err
		}
	}

	// The cached snapshot first: the first heartbeat reports its version.
	a.sub.LoadCache()
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.sub.Run(ctx) })
	wg.Go(func() { a.heartbeats(ctx) })
	defer wg.Wait()
	defer cancel()

	// Parts hear of the first snapshot, not of its absence at start.
	var applied *cluster.Snapshot
	for {
		snap := a.sub.Current()
		if snap != applied {
			applied = snap
			self := selfIn(snap, a.cfg.Name)
			if self != nil && a.HealthAddr() == "" {
				if err := a.listen(hs, self.Internal); err != nil {
					return err
				}
			}
			a.apply(ctx, snap, self)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.changed:
		}
	}
}

// listen starts the health endpoint on addr.
func (a *Agent) listen(hs *healthServer, addr string) error {
	bound, err := hs.start(addr)
	if err != nil {
		return fmt.Errorf("node %s: health endpoint: %w", a.cfg.Name, err)
	}
	a.healthAddr.Store(&bound)
	a.log.Info("health endpoint listening", "addr", bound)
	return nil
}

// apply hands the snapshot to every part.
func (a *Agent) apply(ctx context.Context, snap *cluster.Snapshot, self *cluster.Node) {
	if self == nil {
		snap = nil
	}
	a.partsMu.Lock()
	defer a.partsMu.Unlock()
	for _, p := range a.cfg.Parts {
		p.Apply(ctx, snap, self)
	}
}

// selfIn returns the named node of snap, or nil.
func selfIn(snap *cluster.Snapshot, name string) *cluster.Node {
	if snap == nil {
		return nil
	}
	return snap.Config.Node(name)
}
