package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
	"github.com/meridian-traffic/meridian/geoip"
	"github.com/meridian-traffic/meridian/relay"
)

const envClientTokenFile = "MERIDIAN_CLIENT_TOKEN_FILE"

// readAdminTokens reads the operators' admin tokens (cluster.ParseTokens):
// a problem names the file and line, never a token.
func readAdminTokens(file string, insecure bool, log *slog.Logger) ([]cluster.NamedToken, error) {
	data, err := readSecretFile("admin token", file, insecure, log)
	if err != nil {
		return nil, err
	}
	ts, err := cluster.ParseTokens(file, data)
	if err != nil {
		return nil, fmt.Errorf("admin tokens: %w", err)
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	log.Info("admin tokens read", "file", file, "operators", names)
	return ts, nil
}

// runDirector is `meridian director`: flags to a director.Config, then Run
// until ctx is done. Logs go to stdout.
func runDirector(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("director", flag.ContinueOnError)
	fs.SetOutput(stdout)
	host, _ := os.Hostname()
	var (
		name        = fs.String("name", host, "this director's name (election, status, history)")
		data        = fs.String("data", "", "data directory of the embedded etcd member")
		listen      = fs.String("listen", director.DefaultListen, "API address")
		etcd        = fs.String("etcd", "", "external etcd endpoints URL,URL,... (nothing embedded)")
		etcdName    = fs.String("etcd-name", "", "embedded member name (default: --name)")
		peerURL     = fs.String("etcd-peer-url", "", "embedded member peer URL (default: a free loopback port)")
		clientURL   = fs.String("etcd-client-url", "", "embedded member client URL (default: a free loopback port)")
		initial     = fs.String("etcd-initial-cluster", "", "every member as NAME=PEERURL,... (empty: single member)")
		state       = fs.String("etcd-cluster-state", "new", "new, or existing when joining a running cluster")
		heartbeat   = fs.Duration("etcd-heartbeat-interval", 0, "embedded member's raft heartbeat interval (0: etcd's 100ms)")
		election    = fs.Duration("etcd-election-timeout", 0, "embedded member's raft election timeout, at least 5 heartbeat intervals (0: etcd's 1s)")
		siteFile    = fs.String("site", "", "site file stored as the first config version when the store is empty")
		pskFile     = fs.String("psk-file", os.Getenv(envPSKFile), "file holding the pre-shared key (env "+envPSKFile+"; or the key itself in "+envPSK+")")
		tokenFile   = fs.String("admin-token-file", os.Getenv(envTokenFile), "file of the operators' admin API tokens, NAME TOKEN per line, or one bare token named admin (env "+envTokenFile+")")
		tlsCert     = fs.String("tls-cert", "", "TLS certificate file (with --tls-key: serve HTTPS)")
		tlsKey      = fs.String("tls-key", "", "TLS key file")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		insecure    = fs.Bool(flagAllowInsecure, false, "accept secret files that the group or others may read (warns)")
		electionTTL = fs.Int("election-ttl", director.DefaultElectionTTL, "leader lease in seconds")
		geoipFile   = fs.String("geoip", "", "MaxMind City database (the DNS servers' geoip file) for ctl explain and session home nodes; without it geo and timezone fall back")
		clientToks  = fs.String("client-token-file", os.Getenv(envClientTokenFile), "file of session API client tokens, one per line (env "+envClientTokenFile+"); without it the session API answers 503")
		turnTLS     = fs.Bool("turn-tls", false, "hand out turns: URIs (the relays have TLS certificates)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log, psk, err := loggerAndPSK(stdout, *logLevel, *pskFile, *insecure)
	if err != nil {
		return err
	}
	if *tokenFile == "" {
		return errors.New("--admin-token-file is required")
	}
	admins, err := readAdminTokens(*tokenFile, *insecure, log)
	if err != nil {
		return err
	}
	reg := newRegistry()
	cfg := director.Config{
		Name:        *name,
		Listen:      *listen,
		TLSCertFile: *tlsCert,
		TLSKeyFile:  *tlsKey,
		PSK:         psk,
		AdminTokens: admins,
		ElectionTTL: *electionTTL,
		Logger:      log,
		Metrics:     reg,
		// Health checks of kind turn make a real allocation on the node's
		// relay with a short-lived credential.
		TURNProbe: func(ctx context.Context, hc cluster.HealthCheck) error {
			return relay.Probe(ctx, hc.Target, cluster.RelaySecret(psk), relay.ProbeOptions{})
		},
		Etcd: director.EtcdConfig{
			DataDir: *data, MemberName: *etcdName, PeerURL: *peerURL, ClientURL: *clientURL,
			InitialCluster: *initial, ClusterState: *state,
			HeartbeatInterval: *heartbeat, ElectionTimeout: *election,
		},
	}
	if *etcd != "" {
		cfg.Etcd.Endpoints = strings.Split(*etcd, ",")
	}
	if *clientToks != "" {
		data, err := readSecretFile("client tokens", *clientToks, *insecure, log)
		if err != nil {
			return err
		}
		if cfg.ClientTokens, err = director.ParseClientTokens(*clientToks, data); err != nil {
			return err
		}
	}
	cfg.TURNTLS = *turnTLS
	if *geoipFile != "" {
		db, err := geoip.Open(*geoipFile)
		if err != nil {
			return err
		}
		defer db.Close()
		cfg.Locator = db
	}
	if *siteFile != "" {
		if cfg.SiteData, err = os.ReadFile(*siteFile); err != nil {
			return fmt.Errorf("site: %w", err)
		}
		cfg.SiteFile = *siteFile
	}
	d, err := director.New(cfg)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-d.Ready():
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "director %s serving site %s at %s://%s\n", *name, d.Site(), scheme, d.Addr())
	return <-done
}
