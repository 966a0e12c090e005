// Command meridian-relay runs one Meridian TURN relay without a director,
// for benchmarks and interop runs: the secret comes from a flag or the
// environment instead of a site's PSK.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/relay"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "meridian-relay:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr    = flag.String("addr", "127.0.0.1", "public (and listen) address")
		realm   = flag.String("realm", "support.example.com", "TURN realm (the site zone)")
		port    = flag.Int("port", cluster.DefaultTURNPort, "UDP and TCP listener port")
		minPort = flag.Int("min-port", cluster.DefaultRelayPortMin, "lowest relay port")
		maxPort = flag.Int("max-port", cluster.DefaultRelayPortMax, "highest relay port")
		allow   = flag.String("allow-peers", "", "comma-separated peer prefixes allowed despite the filter")
		sockets = flag.Int("udp-sockets", 0, "SO_REUSEPORT UDP sockets (0: GOMAXPROCS)")
		maxUser = flag.Int("max-allocations-per-user", 0, "allocations per user (0: unlimited)")
		maxNode = flag.Int("max-allocations", 0, "allocations per node (0: unlimited)")
		verbose = flag.Bool("v", false, "debug logs")
		profile = flag.String("cpuprofile", "", "write a CPU profile here until exit")
	)
	flag.Parse()
	// The secret never goes on a command line that ps shows.
	secret := os.Getenv("MERIDIAN_RELAY_SECRET")
	if secret == "" {
		return fmt.Errorf("set MERIDIAN_RELAY_SECRET")
	}
	ip, err := netip.ParseAddr(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	rc := cluster.Relay{UDPPort: *port, TCPPort: *port, TLSPort: cluster.DefaultTURNSPort, PortMin: *minPort, PortMax: *maxPort,
		MaxAllocationsPerUser: *maxUser, MaxAllocations: *maxNode}
	if *allow != "" {
		for _, s := range strings.Split(*allow, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-allow-peers: %w", err)
			}
			rc.AllowPeers = append(rc.AllowPeers, p)
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	r, err := relay.New(relay.Config{
		Address:    ip,
		Relay:      rc,
		Realm:      *realm,
		Secrets:    [][]byte{[]byte(secret)},
		UDPSockets: *sockets,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return r.Run(ctx)
}
