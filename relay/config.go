package relay

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
)

// Defaults for zero wiring fields of Config. The site's relay settings
// (Config.Relay) have their defaults in the site model (cluster.DefaultRelay)
// and are never defaulted here.
const (
	// DefaultMaxCredentialTTL bounds how far in the future a credential may
	// expire. coturn clients and the broker mint credentials valid for a
	// day; anything further out is a forged or broken clock.
	DefaultMaxCredentialTTL = 48 * time.Hour
	// DefaultMaxLifetime caps the LIFETIME a client may ask for (RFC 8656
	// recommends 3600 s as the most a server grants).
	DefaultMaxLifetime = time.Hour
	// DefaultMinLifetime is the least LIFETIME granted; shorter requests
	// are raised to it so a client cannot churn allocations.
	DefaultMinLifetime = 30 * time.Second
	// defaultTCPWriteTimeout keeps a client that stops reading its TCP
	// connection from stalling the goroutine that writes to it.
	defaultTCPWriteTimeout = 5 * time.Second
)

// Config is a relay's configuration. Zero wiring fields mean the documented
// defaults; New validates it.
type Config struct {
	// Address is the node's public address: clients reach the listeners
	// there and relayed addresses carry it. Required.
	Address netip.Addr
	// ListenAddress is where sockets bind, when it differs from Address
	// (a node behind 1:1 NAT). Default Address.
	ListenAddress netip.Addr
	// Relay holds the listener ports, the relay port range, AllowPeers and
	// the quotas from the site file, complete with the site's defaults (a
	// relay built outside a site starts from cluster.DefaultRelay). A port
	// of -1 disables that listener.
	Relay cluster.Relay
	// Realm is the TURN realm: the site's zone. Required.
	Realm string
	// Secrets are the relay secrets, current first, then previous ones
	// still accepted during a rotation. At least one; see Secret.
	Secrets [][]byte
	// CertFile and KeyFile enable the TLS listener when both are set.
	CertFile, KeyFile string
	// MinLifetime and MaxLifetime bound the allocation LIFETIME granted
	// (defaults 30s and 1h).
	MinLifetime, MaxLifetime time.Duration
	// MaxCredentialTTL refuses credentials expiring further in the future
	// (default 48h).
	MaxCredentialTTL time.Duration
	// UDPSockets is how many SO_REUSEPORT sockets share the UDP port, each
	// with its own reader (default: GOMAXPROCS, at most 8).
	UDPSockets int
	// OnAllocationEnd, when set, receives each allocation's final
	// accounting. It runs on the goroutine closing the allocation and must
	// not block.
	OnAllocationEnd func(AllocationStats)
	// Logger receives the relay's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the meridian_relay_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for credential checks; nil means time.Now.
	Now func() time.Time
}

// withDefaults returns c with defaults filled in, or an error naming the
// first field at fault.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if !c.Address.IsValid() {
		return bad("address is required")
	}
	c.Address = c.Address.Unmap()
	if !c.ListenAddress.IsValid() {
		c.ListenAddress = c.Address
	}
	c.ListenAddress = c.ListenAddress.Unmap()
	if c.Address.Is4() != c.ListenAddress.Is4() {
		return bad("address %s and listen address %s are of different families", c.Address, c.ListenAddress)
	}
	if c.Realm == "" {
		return bad("realm is required")
	}
	if len(c.Secrets) == 0 {
		return bad("at least one relay secret is required")
	}
	for i, s := range c.Secrets {
		if len(s) < cluster.MinPSKLen {
			return bad("relay secret %d is too short (want at least %d bytes)", i, cluster.MinPSKLen)
		}
	}
	r := &c.Relay
	for _, p := range []struct {
		name string
		v    int
	}{{"udp_port", r.UDPPort}, {"tcp_port", r.TCPPort}, {"tls_port", r.TLSPort}} {
		if p.v != -1 && (p.v < 1 || p.v > 65535) {
			return bad("%s %d out of range (1-65535, or -1 for none)", p.name, p.v)
		}
	}
	if r.PortMin < 1 || r.PortMax > 65535 || r.PortMin > r.PortMax {
		return bad("relay port range %d-%d is invalid", r.PortMin, r.PortMax)
	}
	if r.UDPPort == -1 && r.TCPPort == -1 {
		return bad("both the UDP and the TCP listener are disabled")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("a TLS listener needs both a certificate and a key")
	}
	if r.MaxAllocationsPerUser < 0 || r.MaxAllocations < 0 {
		return bad("allocation quotas must not be negative")
	}
	for _, p := range r.AllowPeers {
		if !p.IsValid() {
			return bad("allow_peers holds an invalid prefix")
		}
	}
	if c.MinLifetime == 0 {
		c.MinLifetime = DefaultMinLifetime
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.MinLifetime < 0 || c.MaxLifetime < c.MinLifetime {
		return bad("lifetime bounds %s-%s are invalid", c.MinLifetime, c.MaxLifetime)
	}
	if c.MaxLifetime > DefaultMaxLifetime {
		// pion grants at most its own default above one hour.
		return bad("max lifetime %s exceeds %s", c.MaxLifetime, DefaultMaxLifetime)
	}
	if c.MaxCredentialTTL == 0 {
		c.MaxCredentialTTL = DefaultMaxCredentialTTL
	}
	if c.MaxCredentialTTL < 0 {
		return bad("max credential TTL must not be negative")
	}
	if c.UDPSockets == 0 {
		c.UDPSockets = min(runtime.GOMAXPROCS(0), 8)
	}
	if c.UDPSockets < 1 || c.UDPSockets > 64 {
		return bad("udp sockets %d out of range 1-64", c.UDPSockets)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
