package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdStartTimeout bounds how long a member waits for its cluster: the
// other members of a new cluster may start a few seconds later.
const etcdStartTimeout = 60 * time.Second

// store is the etcd connection and, when embedded, the member behind it.
type store struct {
	client *clientv3.Client
	member *embed.Etcd // nil with an external cluster
}

// openStore starts the embedded member or connects to the external
// cluster. ctx bounds the start only.
func openStore(ctx context.Context, c EtcdConfig) (*store, error) {
	endpoints := c.Endpoints
	var member *embed.Etcd
	if len(endpoints) == 0 {
		m, err := startMember(ctx, c)
		if err != nil {
			return nil, err
		}
		member = m
		endpoints = []string{m.Config().AdvertiseClientUrls[0].String()}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		if member != nil {
			member.Close()
		}
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return &store{client: cli, member: member}, nil
}

func (s *store) close() {
	s.client.Close()
	if s.member != nil {
		s.member.Close()
	}
}

// failed reports a fatal error of the embedded member.
func (s *store) failed() <-chan error {
	if s.member == nil {
		return nil
	}
	return s.member.Err()
}

func startMember(ctx context.Context, c EtcdConfig) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = c.MemberName
	cfg.Dir = c.DataDir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.InitialClusterToken = c.ClusterToken
	cfg.ClusterState = c.ClusterState
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
		return nil, ctx.Err()
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
