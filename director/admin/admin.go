package admin

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/broker"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
	"github.com/meridian-traffic/meridian/director/web"
)

// Config is what the admin API takes of the director's configuration.
type Config struct {
	Name    string                // the director, on the status page
	Locator cluster.Locator       // places clients for explain; nil for none
	Metrics prometheus.Registerer // served on /metrics when also a Gatherer
	// AuditLimit bounds the audit kept in the store (default
	// DefaultAuditLimit newest entries).
	AuditLimit int
}

// API is the director's HTTP API: the admin API of `meridian ctl` here,
// with the subscribers' sync and heartbeat and the broker's session API
// mounted beside it.
type API struct {
	cfg    Config
	log    *slog.Logger
	site   *store.Site
	pub    *publish.Publisher
	guard  *web.Guard
	broker *broker.Broker
}

// New returns the API of site's director.
func New(cfg Config, site *store.Site, pub *publish.Publisher, guard *web.Guard, b *broker.Broker, log *slog.Logger) *API {
	if cfg.AuditLimit <= 0 {
		cfg.AuditLimit = DefaultAuditLimit
	}
	return &API{cfg: cfg, log: log, site: site, pub: pub, guard: guard, broker: b}
}
