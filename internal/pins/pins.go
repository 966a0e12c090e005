//go:build pins

// Package pins keeps the chosen dependency versions in go.mod while the
// packages that use them are written. It is never built.
package pins

import (
	_ "github.com/coredns/caddy"
	_ "github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/whoami"
	_ "github.com/gaissmai/bart"
	_ "github.com/maxmind/mmdbwriter"
	_ "github.com/miekg/dns"
	_ "github.com/oschwald/geoip2-golang"
	_ "github.com/osrg/gobgp/v3/pkg/server"
	_ "github.com/pion/turn/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.etcd.io/etcd/client/v3/concurrency"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "gopkg.in/yaml.v3"
)
