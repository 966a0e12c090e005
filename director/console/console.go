package console

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultSessionTTL  = 8 * time.Hour
	DefaultMaxSessions = 1024
)

// Config is what the console takes of the director.
type Config struct {
	// API is the director's HTTP API (admin.API.Handler()): every read and
	// change of the console is a request to it, made in-process. Required.
	API http.Handler
	// Versions waits until the director serves a snapshot newer than after
	// and returns its version; with after 0 it returns the current one at
	// once. It drives the live updates. Nil: pages refresh on a timer only.
	Versions func(ctx context.Context, after uint64) (uint64, error)
	// SecureCookies marks the session cookie Secure even on requests that
	// did not arrive over TLS (a TLS-terminating proxy in front); requests
	// over TLS always get it.
	SecureCookies bool
	// SessionTTL is how long a login lasts (default 8h).
	SessionTTL time.Duration
	// MaxSessions bounds the session table (default 1024); when it is
	// full, the oldest login ends.
	MaxSessions int
	// Logger gets logins, logouts and refusals; nil discards.
	Logger *slog.Logger
}

// Console is the operator console. Create it with New; it is an
// http.Handler for the console's paths (see Mount).
type Console struct {
	cfg      Config
	log      *slog.Logger
	hc       *http.Client // in-process transport to cfg.API
	sessions *sessions
	limiter  *loginLimiter
	parsed   siteCache
	mux      *http.ServeMux
	now      func() time.Time

	stopOnce sync.Once
	stopping chan struct{} // closed by Close: ends the event streams
}

// New returns the console of the director whose API is cfg.API.
func New(cfg Config) *Console {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Console{
		cfg:      cfg,
		log:      log.With("component", "console"),
		hc:       &http.Client{Transport: inProcess{h: cfg.API}},
		sessions: newSessions(cfg.MaxSessions),
		limiter:  newLoginLimiter(),
		now:      time.Now,
		stopping: make(chan struct{}),
	}
	c.mux = c.routes()
	return c
}

// Close ends the console's event streams, so that a server's Shutdown
// need not wait for them; register it with http.Server.RegisterOnShutdown.
func (c *Console) Close() { c.stopOnce.Do(func() { close(c.stopping) }) }

// Mount returns a handler that serves the console's paths and hands every
// other request (the API under /v1/, /healthz, /metrics and unknown paths)
// to api.
func (c *Console) Mount(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	for _, p := range paths {
		mux.Handle(p, c)
	}
	return mux
}

// paths are the patterns Mount routes to the console.
var paths = []string{
	"/{$}", "/login", "/logout", "/events", "/static/",
	"/nodes", "/nodes/", "/config", "/config/", "/sync", "/clients", "/explain", "/audit",
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w.Header())
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.HandlerFunc(serveStatic))
	mux.HandleFunc("GET /login", c.handleLoginForm)
	mux.HandleFunc("POST /login", c.handleLogin)
	mux.HandleFunc("POST /logout", c.post(c.handleLogout))
	mux.HandleFunc("GET /events", c.handleEvents)

	mux.HandleFunc("GET /{$}", c.page(c.overview))
	mux.HandleFunc("GET /nodes", c.page(c.nodes))
	mux.HandleFunc("GET /nodes/{name}/confirm", c.page(c.confirmNode))
	mux.HandleFunc("POST /nodes/{name}/{action}", c.post(c.nodeAction))
	mux.HandleFunc("GET /config", c.page(c.configPage))
	mux.HandleFunc("POST /config", c.post(c.configSubmit))
	mux.HandleFunc("GET /config/rollback", c.page(c.confirmRollback))
	mux.HandleFunc("POST /config/rollback", c.post(c.rollback))
	mux.HandleFunc("GET /sync", c.page(c.syncPage))
	mux.HandleFunc("POST /sync", c.post(c.syncNow))
	mux.HandleFunc("GET /clients", c.page(c.clientsPage))
	mux.HandleFunc("GET /explain", c.page(c.explainPage))
	mux.HandleFunc("GET /audit", c.page(c.auditPage))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return mux
}

// csp allows the console's own files only: no inline script or style, no
// frames, forms to the console only.
const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
