package director

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/checks"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/store"
)

// Config is a director's configuration. Zero values mean the documented
// defaults; New validates it.
type Config struct {
	// Name identifies this director in the leader election, the status page
	// and the config history. Required.
	Name string
	// Listen is the API address (default 127.0.0.1:7700; port 0 picks one).
	Listen string
	// TLSCertFile and TLSKeyFile make the API serve TLS; both or neither.
	TLSCertFile, TLSKeyFile string

	// Etcd is where the site is stored.
	Etcd EtcdConfig

	// SiteFile and SiteData are the initial site, stored as config version 1
	// when the store holds no site yet. SiteFile names it in error messages.
	// Without them the director serves the site it finds in the store.
	SiteFile string
	SiteData []byte

	// PSK authenticates subscribers and signs snapshots. Required.
	PSK cluster.PSK
	// AdminTokens are the operators' bearer tokens of the admin API, each
	// with the operator's name: the author of the changes and audit
	// entries made with it (see cluster.ParseTokens for the file). At
	// least one of AdminTokens and AdminToken is required; tokens are at
	// least 16 bytes, compared in constant time and never logged.
	AdminTokens []cluster.NamedToken
	// AdminToken is a single admin token, the operator "admin"; it may be
	// given with AdminTokens or instead of them.
	AdminToken string
	// AuditLimit bounds the audit of operators' actions kept in the store
	// (default 10000 newest).
	AuditLimit int

	// ClientTokens are the bearer tokens of the session API (api.PathSessions
	// and below): one per client application (support portal, customer and
	// representative apps); any listed token is accepted. They are separate
	// from AdminToken, compared in constant time and never logged. Empty
	// disables the session API (503). See ParseClientTokens.
	ClientTokens []string
	// SessionTTL is how long a session lives without a request from either
	// party (default 2m; etcd raises values below its minimum lease).
	SessionTTL time.Duration
	// SessionMaxAge is the longest a session lasts; its TURN credentials
	// expire then (default 12h, at most the relays' 48h credential limit).
	SessionMaxAge time.Duration
	// SessionRate and SessionBurst bound session API requests per source
	// address: a token bucket of SessionBurst requests refilled at
	// SessionRate per second (defaults 10 and 20).
	SessionRate  float64
	SessionBurst int
	// TURNTLS offers turns: URIs in session grants: the nodes' relays have
	// a certificate and serve TLS on the site's tls_port.
	TURNTLS bool

	// TURNProbe runs health checks of kind "turn". Nil probes the target
	// with a TCP connect until the relay package provides a TURN allocation.
	TURNProbe Probe

	// Locator places client addresses for PathExplain; nil explains
	// without GeoIP.
	Locator cluster.Locator

	// SyncWait is the longest a sync long-poll waits (default 30s; a
	// subscriber's ?wait= may shorten it).
	SyncWait time.Duration
	// LagAfter is how long a subscriber may hold an older version than the
	// current one before it shows as lagging (default 5s).
	LagAfter time.Duration
	// ElectionTTL is the leader lease in seconds: how long a crashed
	// leader's health checks stay orphaned before another director takes
	// over (default 5; etcd raises values below its minimum).
	ElectionTTL int
	// HeartbeatTTL is how long a node's last heartbeat is kept (default 60s).
	HeartbeatTTL time.Duration
	// HistoryLimit bounds the sync status history (default 500 newest).
	HistoryLimit int

	// Logger receives the director's logs; nil discards them.
	Logger *slog.Logger
	// Metrics registers the meridian_director_* metrics. Nil uses a private
	// registry. /metrics serves it when it is also a prometheus.Gatherer.
	Metrics prometheus.Registerer
}

// EtcdConfig chooses the store: an external cluster (Endpoints) or a member
// embedded in the director (DataDir), alone or in a cluster of members.
type EtcdConfig = store.EtcdConfig

// Probe checks one health target once; a nil error is a success. ctx
// carries the check's timeout.
type Probe = checks.Probe

// Defaults.
const (
	DefaultListen       = "127.0.0.1:7700"
	DefaultSyncWait     = 30 * time.Second
	DefaultLagAfter     = 5 * time.Second
	DefaultElectionTTL  = 5
	DefaultHeartbeatTTL = 60 * time.Second
	DefaultHistoryLimit = 500
	DefaultAuditLimit   = 10000
	// DefaultSyncTimeout is how long "sync now" waits for every subscriber.
	DefaultSyncTimeout = publish.DefaultSyncTimeout
)

func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls needs both a certificate and a key file"))
	}
	if len(c.Etcd.Endpoints) == 0 && c.Etcd.DataDir == "" {
		errs = append(errs, errors.New("etcd: a data directory or external endpoints are required"))
	}
	switch c.Etcd.ClusterState {
	case "":
		c.Etcd.ClusterState = "new"
	case "new", "existing":
	default:
		errs = append(errs, fmt.Errorf("etcd cluster state %q: want new or existing", c.Etcd.ClusterState))
	}
	if c.Etcd.InitialCluster != "" && (c.Etcd.PeerURL == "" || c.Etcd.ClientURL == "") {
		errs = append(errs, errors.New("etcd: a member of a multi-member cluster needs its peer and client URLs"))
	}
	if c.Etcd.MemberName == "" {
		c.Etcd.MemberName = c.Name
	}
	if c.Etcd.ClusterToken == "" {
		c.Etcd.ClusterToken = "meridian"
	}
	if c.PSK.IsZero() {
		errs = append(errs, errors.New("a pre-shared key is required"))
	}
	errs = append(errs, c.adminDefaults()...)
	if len(c.SiteData) > 0 {
		if c.SiteFile == "" {
			c.SiteFile = "site.yaml"
		}
		if _, err := cluster.Parse(c.SiteFile, c.SiteData); err != nil {
			errs = append(errs, fmt.Errorf("initial site: %w", err))
		}
	}
	orDefault(&c.SyncWait, DefaultSyncWait)
	orDefault(&c.LagAfter, DefaultLagAfter)
	orDefault(&c.ElectionTTL, DefaultElectionTTL)
	orDefault(&c.HeartbeatTTL, DefaultHeartbeatTTL)
	orDefault(&c.HistoryLimit, DefaultHistoryLimit)
	orDefault(&c.AuditLimit, DefaultAuditLimit)
	errs = append(errs, c.sessionDefaults()...)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if len(errs) > 0 {
		return fmt.Errorf("director config: %w", errors.Join(errs...))
	}
	return nil
}

// orDefault sets *v to d when the caller left it zero (or negative).
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
