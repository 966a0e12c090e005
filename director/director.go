package director

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/admin"
	"github.com/meridian-traffic/meridian/director/broker"
	"github.com/meridian-traffic/meridian/director/checks"
	"github.com/meridian-traffic/meridian/director/console"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// Director is one director process. Create it with New and start it with
// Run; Ready is closed once it serves.
type Director struct {
	cfg   Config
	log   *slog.Logger
	guard *web.Guard
	tls   *tls.Config
	// The parts' metrics are registered by New, so that a registry shared
	// by two directors fails there rather than in Run.
	pubMet   *publish.Metrics
	checkMet *checks.Metrics

	started atomic.Bool
	ready   chan struct{}
	addr    atomic.Pointer[string]
	checker atomic.Pointer[checks.Checker] // nil before Run

	// Set by Run before Ready.
	site *store.Site
	pub  *publish.Publisher
}

// New validates cfg and returns a director ready to Run.
func New(cfg Config) (*Director, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	guard, err := web.NewGuard(cfg.PSK, cfg.admins(), cfg.Metrics, cfg.Logger)
	if err != nil {
		return nil, err
	}
	pubMet, err := publish.NewMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	checkMet, err := checks.NewMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	d := &Director{
		cfg:      cfg,
		log:      cfg.Logger,
		guard:    guard,
		pubMet:   pubMet,
		checkMet: checkMet,
		ready:    make(chan struct{}),
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("director tls: %w", err)
		}
		d.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return d, nil
}

// Ready is closed once the director serves its API.
func (d *Director) Ready() <-chan struct{} { return d.ready }

// Addr is the API's listening address, "" before Ready.
func (d *Director) Addr() string {
	if a := d.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Leading reports whether this director runs the health checks now.
func (d *Director) Leading() bool {
	c := d.checker.Load()
	return c != nil && c.Leading()
}

// Site names the site this director serves, "" before Ready.
func (d *Director) Site() string {
	select {
	case <-d.ready:
		return d.site.Name
	default:
		return ""
	}
}

// Run starts the store, the API, the snapshot watch and the leader
// election, and blocks until ctx is done; then it stops them all.
func (d *Director) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("director: Run called twice")
	}
	st, err := store.Open(ctx, d.cfg.Etcd, d.log)
	if err != nil {
		return startErr(ctx, err)
	}
	defer st.Close()
	if err := d.openSite(ctx, st); err != nil {
		return startErr(ctx, err)
	}

	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("director listen: %w", err)
	}
	if d.tls != nil {
		ln = tls.NewListener(ln, d.tls)
	}
	chk := checks.New(checks.Config{Name: d.cfg.Name, ElectionTTL: d.cfg.ElectionTTL, TURNProbe: d.cfg.TURNProbe},
		d.site, d.pub, d.checkMet, d.log)
	d.checker.Store(chk)
	apiHandler := d.api().Handler()
	con := console.New(console.Config{API: apiHandler, Versions: d.versions, Logger: d.log})
	srv := &http.Server{
		Handler:           con.Mount(apiHandler),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	srv.RegisterOnShutdown(con.Close)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { d.pub.Watch(runCtx) })
	wg.Go(func() { chk.Run(runCtx) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	d.addr.Store(&addr)
	close(d.ready)
	d.log.Info("director serving", "name", d.cfg.Name, "site", d.site.Name, "addr", addr, "tls", d.tls != nil)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("director serve: %w", err)
	case err := <-st.Failed():
		runErr = fmt.Errorf("embedded etcd: %w", err)
	}
	d.pub.EndPolls()
	cancel()
	wg.Wait() // resigns leadership while the store is still there
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	d.log.Info("director stopped", "name", d.cfg.Name)
	return runErr
}

// api assembles the HTTP API of the site's parts.
func (d *Director) api() *admin.API {
	c := d.cfg
	b := broker.New(broker.Config{
		ClientTokens: c.ClientTokens, SessionTTL: c.SessionTTL, SessionMaxAge: c.SessionMaxAge,
		SessionRate: c.SessionRate, SessionBurst: c.SessionBurst, TURNTLS: c.TURNTLS,
		PSK: c.PSK, Locator: c.Locator, Metrics: c.Metrics,
	}, d.site, d.pub, d.guard, d.log)
	return admin.New(admin.Config{Name: c.Name, Locator: c.Locator, Metrics: c.Metrics, AuditLimit: c.AuditLimit}, d.site, d.pub, d.guard, b, d.log)
}

// versions waits for a snapshot newer than after and returns its version:
// the console's live updates.
func (d *Director) versions(ctx context.Context, after uint64) (uint64, error) {
	p, err := d.pub.WaitVersion(ctx, after+1)
	if err != nil {
		return 0, err
	}
	return p.Snap.Version, nil
}

// openSite finds the site, stores the initial site file if the store has
// none, and publishes the first snapshot.
func (d *Director) openSite(ctx context.Context, st *store.Store) error {
	name, err := d.findSite(ctx, st)
	if err != nil {
		return err
	}
	d.site = st.Site(name, d.log)
	d.pub = publish.New(publish.Config{
		Name: d.cfg.Name, SyncWait: d.cfg.SyncWait, LagAfter: d.cfg.LagAfter,
		HeartbeatTTL: d.cfg.HeartbeatTTL, HistoryLimit: d.cfg.HistoryLimit,
	}, d.site, cluster.NewSnapshotSigner(d.cfg.PSK, name), d.pubMet, d.log)
	if len(d.cfg.SiteData) > 0 {
		if err := d.site.Seed(ctx, d.cfg.SiteFile, d.cfg.SiteData, "director/"+d.cfg.Name); err != nil {
			return err
		}
	}
	for warned := false; ; {
		_, err := d.pub.Refresh(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("director: %w", ctx.Err())
		}
		if !warned {
			d.log.Warn("waiting for the site's config in the store", "site", name, "err", err)
			warned = true
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// findSite names the site: the initial site file's, else the first site
// in the store (waiting for one, e.g. for another director to store it).
func (d *Director) findSite(ctx context.Context, st *store.Store) (string, error) {
	if len(d.cfg.SiteData) > 0 {
		s, err := cluster.Parse(d.cfg.SiteFile, d.cfg.SiteData)
		if err != nil {
			return "", fmt.Errorf("initial site: %w", err)
		}
		return s.Name, nil
	}
	for warned := false; ; {
		name, err := st.FirstSite(ctx)
		if err == nil && name != "" {
			return name, nil
		}
		if !warned {
			d.log.Warn("no site in the store yet; waiting", "err", errNoSite)
			warned = true
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// startErr is nil when the start failed because ctx was cancelled: a stop
// asked for during the start is a clean stop.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("director: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
