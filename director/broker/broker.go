package broker

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// Config is what the broker takes of the director's configuration; the
// director fills in the defaults.
type Config struct {
	ClientTokens  []string      // bearer tokens of the session API; none disables it
	SessionTTL    time.Duration // life without a request
	SessionMaxAge time.Duration // longest life; the credentials expire then
	SessionRate   float64       // requests per second per source address
	SessionBurst  int
	TURNTLS       bool // offer turns: URIs
	PSK           cluster.PSK
	Locator       cluster.Locator
	Metrics       prometheus.Registerer
}

// Broker serves the session API and the connected clients of one
// director.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	site   *store.Site
	pub    *publish.Publisher
	guard  *web.Guard
	tokens tokenSet
	limit  *limiter
	met    *sessionMetrics
}

// New returns the broker of site's sessions. Its metrics are registered
// here; a registry shared with another director only logs an error, as
// New of the director refuses that first for its own metrics.
func New(cfg Config, site *store.Site, pub *publish.Publisher, guard *web.Guard, log *slog.Logger) *Broker {
	b := &Broker{
		cfg:    cfg,
		log:    log,
		site:   site,
		pub:    pub,
		guard:  guard,
		tokens: newTokenSet(cfg.ClientTokens),
		limit:  newLimiter(cfg.SessionRate, cfg.SessionBurst),
	}
	met, err := b.newSessionMetrics(cfg.Metrics)
	if err != nil {
		log.Error("session metrics not registered", "err", err)
	}
	b.met = met
	return b
}

// Routes adds the session API and connected clients to mux.
func (b *Broker) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathSessions, b.route("create", b.create))
	mux.HandleFunc("DELETE "+api.PathSession, b.route("end", b.end))
	mux.HandleFunc("POST "+api.PathSessionRenew, b.route("renew", b.renew))
	mux.HandleFunc("POST "+api.PathSessionJoin, b.route("join", b.join))
	mux.HandleFunc("POST "+api.PathSessionShow, b.route("show", b.show))
	mux.HandleFunc("GET "+api.PathClients, b.guard.WithAdmin(b.handleClients))
}
