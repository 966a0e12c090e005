package meridian

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/edns"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

const pluginName = "meridian"

func init() {
	plugin.Register(pluginName, setup)
	// CoreDNS drops EDNS options no plugin claims; the answer depends on
	// the client subnet, so claim it.
	edns.SetSupportedOption(dns.EDNS0SUBNET)
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	m := New(cfg)
	installRefusalCounter()
	c.OnStartup(m.OnStartup)
	c.OnShutdown(m.OnShutdown)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		m.Next = next
		return m
	})
	return nil
}

// Config is one meridian block of a Corefile.
type Config struct {
	Zones []string // zones the plugin answers in (the server block's by default)
	// Directors are the site's director base URLs in the order tried: sync
	// stays on one until it fails, then moves to the next.
	Directors []string
	PSK       cluster.PSK // the site's pre-shared key
	CacheDir  string      // where the last-known-good snapshot is kept; "" keeps none
	GeoIP     string      // MaxMind City database; "" means no locations
	Site      string      // site to subscribe to; "" takes the director's
	ID        string      // subscriber id; default dns/HOSTNAME
	Explain   bool        // answer TXT _explain.<traffic hostname>
	Fall      fall.F
}

// parse reads the meridian block. It reads the PSK file so that a bad key
// fails the configuration, and does nothing else with the outside world.
func parse(c *caddy.Controller) (Config, error) {
	var cfg Config
	seen := false
	for c.Next() {
		if seen {
			return cfg, errors.New("only one meridian block per server block")
		}
		seen = true
		cfg.Zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			if err := parseProperty(c, &cfg); err != nil {
				return cfg, err
			}
		}
	}
	if len(cfg.Directors) == 0 {
		return cfg, errors.New("director is required")
	}
	if cfg.PSK.IsZero() {
		return cfg, errors.New("psk_file is required")
	}
	return cfg, nil
}

func parseProperty(c *caddy.Controller, cfg *Config) error {
	prop := c.Val()
	if prop == "fallthrough" {
		cfg.Fall.SetZonesFromArgs(c.RemainingArgs())
		return nil
	}
	args := c.RemainingArgs()
	if prop == "director" {
		return parseDirectors(c, cfg, args)
	}
	if len(args) != 1 {
		return c.ArgErr()
	}
	v := args[0]
	switch prop {
	case "psk_file":
		b, err := os.ReadFile(filepath.Clean(v))
		if err != nil {
			return fmt.Errorf("psk_file: %w", err)
		}
		psk, err := cluster.NewPSK(b)
		if err != nil {
			return fmt.Errorf("psk_file %s: %w", v, err)
		}
		cfg.PSK = psk
	case "cache_dir":
		cfg.CacheDir = v
	case "geoip":
		cfg.GeoIP = v
	case "site":
		cfg.Site = v
	case "id":
		cfg.ID = v
	case "explain":
		switch v {
		case "on":
			cfg.Explain = true
		case "off":
			cfg.Explain = false
		default:
			return fmt.Errorf("explain %q: want on or off", v)
		}
	default:
		return c.Errf("unknown property '%s'", prop)
	}
	return nil
}

// parseDirectors reads `director URL [URL...]`. One line holds the whole
// list, so a second director line is a mistake rather than an addition.
func parseDirectors(c *caddy.Controller, cfg *Config, args []string) error {
	if len(args) == 0 {
		return c.ArgErr()
	}
	if len(cfg.Directors) != 0 {
		return errors.New("director given twice: list every director URL on one line")
	}
	for _, v := range args {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("director %q: want http://HOST:PORT or https://HOST:PORT", v)
		}
	}
	cfg.Directors = args
	return nil
}
