package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdStartTimeout bounds how long a member waits for its cluster: the
// other members of a new cluster may start a few seconds later.
const etcdStartTimeout = 60 * time.Second

// EtcdConfig chooses the store: an external cluster (Endpoints) or a member
// embedded in the director (DataDir), alone or in a cluster of members.
type EtcdConfig struct {
	// Endpoints of an external etcd cluster. When set, nothing is embedded.
	Endpoints []string

	// DataDir holds the embedded member's data. Required without Endpoints.
	DataDir string
	// MemberName is the embedded member's name (default: Config.Name).
	MemberName string
	// PeerURL and ClientURL are the member's URLs (default: free ports on
	// 127.0.0.1). They must be given when the member joins others.
	PeerURL, ClientURL string
	// InitialCluster lists every member as NAME=PEERURL,...; empty means a
	// single-member cluster.
	InitialCluster string
	// ClusterState is "new" (default) or "existing" (joining a running
	// cluster the member was added to).
	ClusterState string
	// ClusterToken separates clusters bootstrapped on the same network
	// (default "meridian").
	ClusterToken string
	// HeartbeatInterval and ElectionTimeout are the embedded member's raft
	// timers (etcd's --heartbeat-interval and --election-timeout; zero:
	// etcd's defaults, 100ms and 1s). When the member leading the raft
	// group dies, the others elect a new one after one to two election
	// timeouts, and the store takes no writes meanwhile.
	HeartbeatInterval, ElectionTimeout time.Duration
}

// Store is the etcd connection and, when embedded, the member behind it.
type Store struct {
	client *clientv3.Client
	member *embed.Etcd // nil with an external cluster
}

// Open starts the embedded member or connects to the external cluster.
// ctx bounds the start only. The member logs through log.
func Open(ctx context.Context, c EtcdConfig, log *slog.Logger) (*Store, error) {
	endpoints := c.Endpoints
	var member *embed.Etcd
	if len(endpoints) == 0 {
		m, err := startMember(ctx, c, log)
		if err != nil {
			return nil, err
		}
		member = m
		endpoints = []string{m.Config().AdvertiseClientUrls[0].String()}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		// The client's retries surface as the errors of the calls that
		// retried; its own log would repeat them.
		Logger: zap.NewNop(),
	})
	if err != nil {
		if member != nil {
			member.Close()
		}
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return &Store{client: cli, member: member}, nil
}

// Client is the etcd client, for the callers that need more than a Site
// offers (elections, leases, watches).
func (s *Store) Client() *clientv3.Client { return s.client }

// Close closes the client and stops the embedded member.
func (s *Store) Close() {
	s.client.Close()
	if s.member != nil {
		s.member.Close()
	}
}

// Failed reports a fatal error of the embedded member.
func (s *Store) Failed() <-chan error {
	if s.member == nil {
		return nil
	}
	return s.member.Err()
}

// FirstSite names the first site in the store, "" when it holds none.
func (s *Store) FirstSite(ctx context.Context) (string, error) {
	resp, err := s.client.Get(ctx, KeyRoot, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
	if err != nil {
		return "", fmt.Errorf("look for a site: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(string(resp.Kvs[0].Key), KeyRoot), "/")
	return name, nil
}

func startMember(ctx context.Context, c EtcdConfig, log *slog.Logger) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = c.MemberName
	cfg.Dir = c.DataDir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(NewZapLogger(log))
	cfg.InitialClusterToken = c.ClusterToken
	cfg.ClusterState = c.ClusterState
	if c.HeartbeatInterval > 0 {
		cfg.TickMs = uint(c.HeartbeatInterval.Milliseconds())
	}
	if c.ElectionTimeout > 0 {
		cfg.ElectionMs = uint(c.ElectionTimeout.Milliseconds())
	}
	// Heartbeats rewrite keys every few seconds: keep an hour of history.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"

	peer, client := c.PeerURL, c.ClientURL
	var err error
	if peer == "" {
		if peer, err = freeURL(); err != nil {
			return nil, err
		}
	}
	if client == "" {
		if client, err = freeURL(); err != nil {
			return nil, err
		}
	}
	pu, err := url.Parse(peer)
	if err != nil {
		return nil, fmt.Errorf("etcd peer url %q: %w", peer, err)
	}
	cu, err := url.Parse(client)
	if err != nil {
		return nil, fmt.Errorf("etcd client url %q: %w", client, err)
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	if c.InitialCluster != "" {
		cfg.InitialCluster = c.InitialCluster
	} else {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}

	m, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", c.DataDir, err)
	}
	t := time.NewTimer(etcdStartTimeout)
	defer t.Stop()
	select {
	case <-m.Server.ReadyNotify():
		return m, nil
	case err := <-m.Err():
		m.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-t.C:
		m.Server.Stop()
		m.Close()
		return nil, errors.New("embedded etcd: not ready within a minute (are the other members up?)")
	case <-ctx.Done():
		m.Server.Stop()
		m.Close()
		return nil, fmt.Errorf("embedded etcd: %w", ctx.Err())
	}
}

// freeURL returns an http URL on a loopback port that was free a moment
// ago. etcd needs its advertised URLs before it listens, so a port 0
// listener cannot be used.
func freeURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port for etcd: %w", err)
	}
	defer l.Close()
	return "http://" + l.Addr().String(), nil
}
