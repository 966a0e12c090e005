package director

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
)

// Director is one director process. Create it with New and start it with
// Run; Ready is closed once it serves.
type Director struct {
	cfg         Config
	log         *slog.Logger
	auth        *cluster.RequestAuth
	met         *metrics
	nonces      *nonceCache
	subs        *registry
	probeClient *http.Client
	tls         *tls.Config

	started  atomic.Bool
	ready    chan struct{}
	stopping chan struct{} // closed when Run begins to stop: ends long-polls
	addr     atomic.Pointer[string]
	cur      atomic.Pointer[published]
	leading  atomic.Bool
	// historySeq keeps status history keys unique within one nanosecond.
	historySeq atomic.Uint64
	// The shared heartbeat lease (see heartbeatLease).
	hbMu    sync.Mutex
	hbLease clientv3.LeaseID
	hbUntil time.Time

	// Set by Run before Ready.
	st     *store
	site   string
	keys   keys
	signer *cluster.SnapshotSigner
}

// New validates cfg and returns a director ready to Run.
func New(cfg Config) (*Director, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	d := &Director{
		cfg:         cfg,
		log:         cfg.Logger,
		auth:        cluster.NewRequestAuth(cfg.PSK),
		met:         met,
		nonces:      newNonceCache(2*authWindow+time.Second, maxNonces),
		subs:        newRegistry(),
		probeClient: newProbeClient(),
		ready:       make(chan struct{}),
		stopping:    make(chan struct{}),
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("director tls: %w", err)
		}
		d.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	d.cur.Store(&published{next: make(chan struct{})})
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
func (d *Director) Leading() bool { return d.leading.Load() }

// Site names the site this director serves, "" before Ready.
func (d *Director) Site() string {
	select {
	case <-d.ready:
		return d.site
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
	st, err := openStore(ctx, d.cfg.Etcd)
	if err != nil {
		return startErr(ctx, err)
	}
	d.st = st
	defer st.close()
	if err := d.openSite(ctx); err != nil {
		return startErr(ctx, err)
	}

	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("director listen: %w", err)
	}
	if d.tls != nil {
		ln = tls.NewListener(ln, d.tls)
	}
	srv := &http.Server{
		Handler:           d.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { d.watch(runCtx) })
	wg.Go(func() { d.elect(runCtx) })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	d.addr.Store(&addr)
	close(d.ready)
	d.log.Info("director serving", "name", d.cfg.Name, "site", d.site, "addr", addr, "tls", d.tls != nil)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("director serve: %w", err)
	case err := <-st.failed():
		runErr = fmt.Errorf("embedded etcd: %w", err)
	}
	close(d.stopping)
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

// openSite finds the site, stores the initial site file if the store has
// none, and publishes the first snapshot.
func (d *Director) openSite(ctx context.Context) error {
	site, err := d.findSite(ctx)
	if err != nil {
		return err
	}
	d.site, d.keys = site, newKeys(site)
	d.signer = cluster.NewSnapshotSigner(d.cfg.PSK, site)
	if len(d.cfg.SiteData) > 0 {
		if err := d.seed(ctx, d.cfg.SiteFile, d.cfg.SiteData, "director/"+d.cfg.Name); err != nil {
			return err
		}
	}
	for warned := false; ; {
		_, err := d.refresh(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("director: %w", ctx.Err())
		}
		if !warned {
			d.log.Warn("waiting for the site's config in the store", "site", site, "err", err)
			warned = true
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// findSite names the site: the initial site file's, else the first site
// in the store (waiting for one, e.g. for another director to store it).
func (d *Director) findSite(ctx context.Context) (string, error) {
	if len(d.cfg.SiteData) > 0 {
		s, err := cluster.Parse(d.cfg.SiteFile, d.cfg.SiteData)
		if err != nil {
			return "", fmt.Errorf("initial site: %w", err)
		}
		return s.Name, nil
	}
	for warned := false; ; {
		resp, err := d.st.client.Get(ctx, keyRoot, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
		if err == nil && len(resp.Kvs) > 0 {
			name, _, _ := strings.Cut(strings.TrimPrefix(string(resp.Kvs[0].Key), keyRoot), "/")
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
