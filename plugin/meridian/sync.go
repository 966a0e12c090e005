package meridian

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

var log = clog.NewWithPlugin(pluginName)

// startupWait bounds how long OnStartup waits for the first snapshot (the
// cache, or the director's first answer), so that a fresh server does not
// answer SERVFAIL for a moment it need not.
const startupWait = 2 * time.Second

// reportEvery is how often the snapshot age and sync error metrics are
// refreshed.
const reportEvery = time.Second

// runner is the plugin's running part: the subscriber that keeps the
// snapshot, and the GeoIP database the engine reads.
type runner struct {
	mu     sync.Mutex // guards the fields below; start and stop only
	cancel context.CancelFunc
	done   sync.WaitGroup
	geo    io.Closer
	loc    cluster.Locator
	sub    *client.Subscriber
}

// OnStartup opens the GeoIP database and starts following the director.
func (m *Meridian) OnStartup() error {
	m.run.mu.Lock()
	defer m.run.mu.Unlock()
	if m.run.cancel != nil {
		return nil
	}
	build := ""
	if m.cfg.GeoIP != "" {
		db, err := geoip.Open(m.cfg.GeoIP)
		if err != nil {
			return fmt.Errorf("meridian: geoip: %w", err)
		}
		m.run.geo, m.run.loc = db, db
		build = db.Build()
	}
	id := m.cfg.ID
	if id == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		id = "dns/" + host
	}
	first := make(chan struct{})
	var once sync.Once
	sub, err := client.NewSubscriber(client.SubscriberConfig{
		Directors: m.cfg.Directors,
		PSK:       m.cfg.PSK,
		Site:      m.cfg.Site,
		ID:        id,
		Kind:      api.KindDNS,
		GeoIP:     build, // the director shows it beside its own (ctl status)
		CacheFile: m.cacheFile(),
		OnSnapshot: func(s *cluster.Snapshot) {
			m.install(s)
			once.Do(func() { close(first) })
		},
		OnRemoved: func() { m.view.Store(nil) },
	})
	if err != nil {
		m.closeGeo()
		return fmt.Errorf("meridian: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.run.cancel, m.run.sub = cancel, sub
	m.run.done.Add(2)
	go func() {
		defer m.run.done.Done()
		_ = sub.Run(ctx) // returns nil when ctx ends; problems are in Stats
	}()
	go func() {
		defer m.run.done.Done()
		m.report(ctx, sub)
	}()
	t := time.NewTimer(startupWait)
	defer t.Stop()
	select {
	case <-first:
	case <-t.C:
		if st := sub.Stats(); st.KeyRefused {
			log.Errorf("no snapshot from the cache, and the director %s refused our key (%s): answering SERVFAIL for the site and not ready until it accepts the key",
				st.KeyRefusedBy, st.KeyRefusal)
			break
		}
		log.Warningf("no snapshot yet from %s or the cache: answering SERVFAIL for the site until one arrives", strings.Join(m.cfg.Directors, ", "))
	}
	return nil
}

// OnShutdown stops following the director and closes the GeoIP database.
func (m *Meridian) OnShutdown() error {
	m.run.mu.Lock()
	defer m.run.mu.Unlock()
	if m.run.cancel == nil {
		return nil
	}
	m.run.cancel()
	m.run.done.Wait()
	m.run.cancel, m.run.sub = nil, nil
	m.closeGeo()
	return nil
}

func (m *Meridian) closeGeo() {
	if m.run.geo != nil {
		_ = m.run.geo.Close()
	}
	m.run.geo, m.run.loc = nil, nil
}

// install builds the engine and records of a verified snapshot and
// publishes them. Queries in flight keep the view they loaded.
func (m *Meridian) install(s *cluster.Snapshot) {
	v := newView(s, cluster.NewEngine(s, m.run.loc), m.cfg.Explain)
	m.view.Store(v)
	snapshotVersion.WithLabelValues(s.Site).Set(float64(s.Version))
	snapshotAge.WithLabelValues(s.Site).Set(time.Since(s.Published).Seconds())
}

// report refreshes the snapshot age and sync error metrics, and logs when
// the director goes away or comes back.
func (m *Meridian) report(ctx context.Context, sub *client.Subscriber) {
	t := time.NewTicker(reportEvery)
	defer t.Stop()
	var errs uint64
	reachable := true
	director := ""
	refused := false
	refusedSite := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := sub.Stats()
		site := st.Site
		if site == "" {
			site = m.cfg.Site
		}
		if st.Errors > errs {
			syncErrorCount.WithLabelValues(site).Add(float64(st.Errors - errs))
			errs = st.Errors
		}
		if director != "" && st.Director != director {
			log.Infof("following director %s instead of %s", st.Director, director)
		}
		director = st.Director
		if st.Reachable != reachable {
			reachable = st.Reachable
			if reachable {
				log.Infof("director %s reachable again", st.Director)
			} else {
				held := "no snapshot"
				if st.Version != 0 {
					held = fmt.Sprintf("snapshot version %d", st.Version)
				}
				log.Warningf("director %s unreachable, serving %s: %s", st.Director, held, st.LastError)
			}
		}
		if site != refusedSite {
			keyRefused.DeleteLabelValues(refusedSite)
			refusedSite = site
		}
		if st.KeyRefused {
			keyRefused.WithLabelValues(site).Set(1)
		} else {
			keyRefused.WithLabelValues(site).Set(0)
		}
		if st.KeyRefused != refused {
			refused = st.KeyRefused
			m.logKeyState(st)
		}
		if v := m.view.Load(); v != nil {
			snapshotAge.WithLabelValues(v.snap.Site).Set(time.Since(v.snap.Published).Seconds())
		}
	}
}

// logKeyState logs a change of the director's verdict on our key, once
// per change.
func (m *Meridian) logKeyState(st client.SubscriberStats) {
	if !st.KeyRefused {
		log.Infof("the director %s accepts our key again", st.Director)
		return
	}
	held := "holding no snapshot: answering SERVFAIL for the site and not ready"
	if st.Version != 0 {
		held = fmt.Sprintf("serving snapshot version %d until it accepts the key", st.Version)
	}
	log.Errorf("the director refused our key: director %s answered %s (the pre-shared key differs from the director's, or this host's clock is more than 30s off); %s",
		st.KeyRefusedBy, st.KeyRefusal, held)
}

// cacheFile is where the last-known-good snapshot is kept: one file per
// site (or per zone while the site is not named), so that several server
// blocks can share a directory.
func (m *Meridian) cacheFile() string {
	if m.cfg.CacheDir == "" {
		return ""
	}
	name := m.cfg.Site
	if name == "" && len(m.cfg.Zones) > 0 {
		name = strings.TrimSuffix(m.cfg.Zones[0], ".")
	}
	if name == "" {
		name = "root"
	}
	return filepath.Join(m.cfg.CacheDir, "meridian-"+name+".snapshot")
}
