package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-traffic/meridian/bgp"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/health"
	"github.com/meridian-traffic/meridian/node"
	"github.com/meridian-traffic/meridian/relay"
)

// runNode runs a traffic node agent until ctx is done.
func runNode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("node", out)
	name := fs.String("name", "", "this node's name in the site (required)")
	director := fs.String("director", envOr(envDirector, defaultDirector), "director URL, or a comma-separated list of the site's directors tried in turn (env "+envDirector+")")
	site := fs.String("site", "", "expected site name (default: the first verified one)")
	insecure := fs.Bool(flagAllowInsecure, false, "accept secret files that the group or others may read (warns)")
	pskFile := fs.String("psk-file", os.Getenv(envPSKFile), "file holding the pre-shared key (env "+envPSKFile+"; or the key itself in "+envPSK+")")
	cache := fs.String("cache", "", "directory of the last-known-good snapshot (default: the user cache directory)")
	listen := fs.String("listen", "", "health endpoint host:port (default: the node's internal address in the site)")
	ca := fs.String("ca", "", "PEM file of the CA that signed an https director's certificate")
	tlsCert := fs.String("relay-tls-cert", "", "certificate for the relay's TURN over TLS listener")
	tlsKey := fs.String("relay-tls-key", "", "key for the relay's TURN over TLS listener")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if _, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	directors, err := splitDirectors(*director)
	if err != nil {
		return err
	}
	logger, psk, err := loggerAndPSK(out, *level, *pskFile, *insecure)
	if err != nil {
		return err
	}
	if *cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("--cache not given and no user cache directory: %w", err)
		}
		*cache = filepath.Join(dir, "meridian", "node-"+*name)
	}
	hc, err := httpClientWithCA(*ca)
	if err != nil {
		return err
	}
	reg := newRegistry()
	relays, err := relay.NewPart(relay.Config{
		Secrets: [][]byte{cluster.RelaySecret(psk)}, CertFile: *tlsCert, KeyFile: *tlsKey,
		Logger: logger.With("part", "relay"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	defer relays.Close()
	// The speaker's local health includes a real allocation on this node's
	// relay: the route goes when the relay cannot serve.
	speaker, err := bgp.NewPart(bgp.Config{
		Probes: []health.Probe{{Name: "relay", Check: relays.Probe}},
		Logger: logger.With("part", "bgp"), Registerer: reg,
	})
	if err != nil {
		return err
	}
	// Deferred after the relay's Close, so it runs first: routes are
	// withdrawn before the relay stops.
	defer speaker.Close()
	a, err := node.New(node.Config{
		Name:         *name,
		Directors:    directors,
		PSK:          psk,
		Site:         *site,
		CacheDir:     *cache,
		HealthListen: *listen,
		HTTPClient:   hc,
		Logger:       logger,
		Parts:        []node.Part{relays, speaker},
		Metrics:      promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Registerer:   reg,
	})
	if err != nil {
		return err
	}
	logger.Info("node agent starting", "name", *name, "directors", strings.Join(directors, ","), "cache", *cache)
	return a.Run(ctx)
}

// splitDirectors splits a comma-separated list of director URLs, as given
// to --director or in the environment; the URLs themselves are checked by
// the agent.
func splitDirectors(s string) ([]string, error) {
	var ds []string
	for d := range strings.SplitSeq(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return nil, errors.New("--director: no director URL")
	}
	return ds, nil
}

// readPSK reads the pre-shared key from a file, else from the environment.
func readPSK(file string, allowInsecure bool, log *slog.Logger) (cluster.PSK, error) {
	var data []byte
	switch {
	case file != "":
		b, err := readSecretFile("pre-shared key", file, allowInsecure, log)
		if err != nil {
			return cluster.PSK{}, err
		}
		data = b
	case os.Getenv(envPSK) != "":
		data = []byte(os.Getenv(envPSK))
	default:
		return cluster.PSK{}, errors.New("no pre-shared key: give --psk-file or set " + envPSKFile + " or " + envPSK)
	}
	psk, err := cluster.NewPSK(data)
	if err != nil {
		return cluster.PSK{}, fmt.Errorf("pre-shared key: %w", err)
	}
	return psk, nil
}

// loggerAndPSK makes the logger at level and reads the pre-shared key
// (see readPSK), which a director and a node both start with.
func loggerAndPSK(out io.Writer, level, pskFile string, allowInsecure bool) (*slog.Logger, cluster.PSK, error) {
	log, err := newLogger(out, level)
	if err != nil {
		return nil, cluster.PSK{}, err
	}
	psk, err := readPSK(pskFile, allowInsecure, log)
	return log, psk, err
}

// newRegistry returns a metrics registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newLogger returns a text logger at the named level.
func newLogger(out io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: l})), nil
}
