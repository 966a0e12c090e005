package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	// The plugins of this CoreDNS build, imported one by one: the whole
	// core/plugin set doubles the build time and the binary.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/whoami"

	"github.com/meridian-traffic/meridian/plugin/meridian"
)

// dnsDirectives is the plugin order of this build, CoreDNS's own order
// (core/dnsserver/zdirectives.go) cut to the imported plugins, with meridian
// before file so that file answers only the names the site does not own.
var dnsDirectives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"cache",
	"meridian",
	"file",
	"whoami",
}

// runDNS runs CoreDNS with the meridian plugin until ctx ends.
func runDNS(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	fs.SetOutput(stdout)
	conf := fs.String("conf", "Corefile", "Corefile to load")
	plugins := fs.Bool("plugins", false, "list the plugins of this build and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	dnsserver.Directives = dnsDirectives
	// Every server block refuses a malformed OPT record or ECS option
	// alike, before any plugin; set before the servers start
	// (third_party/miekg-dns).
	dns.DefaultMsgCheckFunc = meridian.CheckEDNS
	caddy.AppName, caddy.AppVersion = "meridian-dns", "dev"
	caddy.Quiet = true
	if *plugins {
		fmt.Fprint(stdout, caddy.DescribePlugins())
		return nil
	}
	contents, err := os.ReadFile(filepath.Clean(*conf))
	if err != nil {
		return fmt.Errorf("read Corefile: %w", err)
	}
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: contents, Filepath: *conf, ServerTypeName: "dns"})
	if err != nil {
		return fmt.Errorf("start CoreDNS: %w", err)
	}
	stopped := make(chan struct{})
	go func() {
		inst.Wait()
		close(stopped)
	}()
	select {
	case <-ctx.Done():
	case <-stopped:
		return errors.New("CoreDNS stopped")
	}
	// A reload replaces the instance, so stop whichever ones run now, and
	// run their shutdown callbacks (caddy.Stop does not) so that plugins
	// stop their goroutines.
	for _, i := range append([]*caddy.Instance(nil), caddy.Instances()...) {
		for _, err := range i.ShutdownCallbacks() {
			fmt.Fprintf(os.Stderr, "meridian dns: shutdown: %v\n", err)
		}
		if err := i.Stop(); err != nil {
			return fmt.Errorf("stop CoreDNS: %w", err)
		}
	}
	<-stopped
	return nil
}
