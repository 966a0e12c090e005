// Package labrun runs the Meridian lab: it builds the topology of a
// containerlab file out of network namespaces, runs FRR and the real
// meridian roles in them, plays the scenarios and reports their figures.
package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/proc"
	"github.com/meridian-traffic/meridian/lab/netns"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// Config is one lab run.
type Config struct {
	Topology string    // containerlab file
	Bin      string    // the meridian binary
	Self     string    // this program, re-run inside namespaces for probes
	Results  string    // results.json path; "" writes none
	Runs     int       // repetitions of the timed failovers (default 5)
	Keep     bool      // keep the run directory (logs) after the run
	Hold     bool      // after the scenarios (or a failed setup), wait for ctx before teardown
	Only     []int     // play only these scenarios (all when empty)
	Out      io.Writer // the results table
	Logger   *slog.Logger
}

// Env is a built, running lab.
type Env struct {
	cfg      Config
	log      *slog.Logger
	top      *topo.Topology
	lab      *netns.Lab
	dir      string // run directory: generated files, state, logs
	procs    *proc.Set
	site     *cluster.Site
	sitePath string // host path of the site file
	geo      []geoNet

	director, dns           *topo.Node   // director: the first director (the site file's primary master)
	directors               []*topo.Node // every director, in topology order
	routers, nodes, clients []*topo.Node
	directorURL             string            // the first director's URL, as the lab's namespaces reach it
	directorURLs            map[string]string // every director's URL over IPv4, by topology node name
	directorURLs6           map[string]string // every director's URL over IPv6 ("" when it has none)
	dnsAddr                 string            // host:port over IPv4
	dnsAddr6                string            // host:port over IPv6 ("" when the DNS server has none)

	bgpChecked, bgpOK bool // whether the routers learned the anycast prefix
}

// setup builds the lab and starts every process; on error the caller still
// calls teardown.
func (e *Env) setup(ctx context.Context) error {
	top, err := topo.Load(e.cfg.Topology)
	if err != nil {
		return err
	}
	e.top = top
	if err := e.pickRoles(); err != nil {
		return err
	}
	if e.dir, err = os.MkdirTemp("", runDirPattern); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	// FRR's daemons drop to the frr user and must reach their directory.
	if err := os.Chmod(e.dir, 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	e.procs = proc.NewSet(filepath.Join(e.dir, "logs"))
	if err := os.MkdirAll(e.procs.LogDir(), 0o755); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	if err := e.generate(); err != nil {
		return err
	}
	if err := e.loadSite(); err != nil {
		return err
	}
	e.lab = netns.New()
	e.log.Info("building namespaces", "run", e.lab.Run(), "dir", e.dir)
	if err := e.lab.Build(top); err != nil {
		return err
	}
	for _, r := range e.routers {
		if err := e.startFRR(ctx, r); err != nil {
			return err
		}
	}
	if err := e.startDirectors(ctx, e.directors...); err != nil {
		return err
	}
	for _, n := range e.nodes {
		if err := e.startRole(n); err != nil {
			return err
		}
	}
	if err := e.startRole(e.dns); err != nil {
		return err
	}
	for _, n := range e.nodes {
		if err := e.waitHTTP(ctx, n.Name, "http://127.0.0.1:7801/healthz", 60*time.Second); err != nil {
			return fmt.Errorf("node %s did not come up (logs in %s): %w", n.Name, e.procs.LogDir(), err)
		}
	}
	if err := e.waitAllUp(ctx); err != nil {
		return fmt.Errorf("%w (logs in %s)", err, e.procs.LogDir())
	}
	// Over IPv6 the DNS server is reached once the routers exchanged
	// their IPv6 routes.
	for _, c := range e.clients {
		for _, f := range families {
			if e.dnsServer(f) == "" || famAddrOf(c, f) == "" {
				continue
			}
			if err := waitFor(ctx, 30*time.Second, func() bool { _, err := e.resolveFam(ctx, c.Name, f, ""); return err == nil }); err != nil {
				return fmt.Errorf("DNS does not answer %s over %s (logs in %s): %w", c.Name, f, e.procs.LogDir(), err)
			}
		}
	}
	return nil
}

// pickRoles sorts the topology's nodes by their meridian.role label.
func (e *Env) pickRoles() error {
	ds, dns := e.top.ByRole("director"), e.top.ByRole("dns")
	if len(ds) == 0 || len(dns) != 1 {
		return fmt.Errorf("topology: want at least one director and one dns node, have %d and %d", len(ds), len(dns))
	}
	e.director, e.directors, e.dns = ds[0], ds, dns[0]
	e.routers, e.nodes, e.clients = e.top.ByRole("router"), e.top.ByRole("node"), e.top.ByRole("client")
	if len(e.nodes) == 0 || len(e.clients) == 0 {
		return errors.New("topology: want traffic nodes and clients")
	}
	e.directorURLs, e.directorURLs6 = map[string]string{}, map[string]string{}
	for _, d := range ds {
		listen, err := e.flagValue(d, "--listen")
		if err != nil {
			return err
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("topology: director %s: --listen %q: %w", d.Name, listen, err)
		}
		// A director listening on every address is reached on the ones its
		// exec lines assign.
		a4, a6 := host, ""
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			a4, a6 = famAddrOf(d, v4), famAddrOf(d, v6)
		}
		e.directorURLs[d.Name] = "http://" + hostPort(a4, port)
		if a6 != "" {
			e.directorURLs6[d.Name] = "http://" + hostPort(a6, port)
		}
	}
	e.directorURL = e.directorURLs[e.director.Name]
	if a := famAddrOf(e.dns, v4); a != "" {
		e.dnsAddr = hostPort(a, "53")
	}
	if a := famAddrOf(e.dns, v6); a != "" {
		e.dnsAddr6 = hostPort(a, "53")
	}
	if e.dnsAddr == "" {
		return fmt.Errorf("topology: dns node %s has no IPv4 address", e.dns.Name)
	}
	return nil
}

// dnsServer is the DNS server's host:port over family f ("" when it has
// no address of f).
func (e *Env) dnsServer(f fam) string {
	if f == v6 {
		return e.dnsAddr6
	}
	return e.dnsAddr
}

// flagValue returns the value of flag in node n's command.
func (e *Env) flagValue(n *topo.Node, flag string) (string, error) {
	f := strings.Fields(n.Cmd)
	for i := range f {
		if f[i] == flag && i+1 < len(f) {
			return f[i+1], nil
		}
	}
	return "", fmt.Errorf("topology: node %s: no %s in its cmd", n.Name, flag)
}

// loadSite reads the site file the director is started with.
func (e *Env) loadSite() error {
	ctr, err := e.flagValue(e.director, "--site")
	if err != nil {
		return err
	}
	m, err := e.pathsFor(e.director)
	if err != nil {
		return err
	}
	e.sitePath = m.rewrite(ctr)
	data, err := os.ReadFile(e.sitePath)
	if err != nil {
		return fmt.Errorf("site: %w", err)
	}
	e.site, err = cluster.Parse(e.sitePath, data)
	return err
}

// startRole runs node n's cmd in its namespace, paths mapped to the host
// and `meridian` replaced by the binary under test.
func (e *Env) startRole(n *topo.Node) error {
	m, err := e.pathsFor(n)
	if err != nil {
		return err
	}
	args := strings.Fields(n.Cmd)
	if len(args) == 0 || args[0] != "meridian" {
		return fmt.Errorf("topology: node %s: cmd must start with meridian", n.Name)
	}
	args = args[1:]
	for i := range args {
		args[i] = m.rewrite(args[i])
	}
	if n.Role() == "dns" {
		// The Corefile names container paths too.
		for i := range args {
			if args[i] == "-conf" && i+1 < len(args) {
				data, err := os.ReadFile(args[i+1])
				if err != nil {
					return fmt.Errorf("dns: %w", err)
				}
				conf := filepath.Join(e.dir, "state", n.Name, "Corefile")
				if err := writeFile(conf, []byte(m.rewrite(string(data))), 0o644); err != nil {
					return fmt.Errorf("dns: %w", err)
				}
				args[i+1] = conf
			}
		}
	}
	cmd := e.lab.Command(n.Name, e.cfg.Bin, args...)
	return e.procs.Start(n.Name, cmd)
}

// startDirectors starts directors ds together (the members of an etcd
// cluster need each other for a quorum) and waits until each serves.
func (e *Env) startDirectors(ctx context.Context, ds ...*topo.Node) error {
	for _, d := range ds {
		if err := e.startRole(d); err != nil {
			return err
		}
	}
	for _, d := range ds {
		if err := e.waitHTTP(ctx, d.Name, e.directorURLs[d.Name]+"/healthz", 60*time.Second); err != nil {
			return fmt.Errorf("director %s did not come up (logs in %s): %w", d.Name, e.procs.LogDir(), err)
		}
	}
	return nil
}

// stopDirectors stops directors ds together, so that none waits on a
// quorum the others already left.
func (e *Env) stopDirectors(ds ...*topo.Node) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.procs.Stop(d.Name, syscall.SIGTERM, 10*time.Second)
		}()
	}
	wg.Wait()
}

// restart starts node n again after a stop.
func (e *Env) restart(n *topo.Node) error { return e.startRole(n) }

// kill stops node n's process abruptly, as a crash would.
func (e *Env) kill(n *topo.Node) { e.procs.Stop(n.Name, syscall.SIGKILL, 5*time.Second) }

// teardown stops every process and removes the namespaces and, unless
// kept, the run directory.
func (e *Env) teardown() error {
	if e.procs != nil {
		e.procs.StopAll(10 * time.Second)
	}
	var err error
	if e.lab != nil {
		err = e.lab.Destroy()
	}
	if e.dir != "" && !e.cfg.Keep {
		if rerr := os.RemoveAll(e.dir); rerr != nil && err == nil {
			err = rerr
		}
	} else if e.dir != "" {
		fmt.Fprintf(e.cfg.Out, "logs kept in %s\n", e.procs.LogDir())
	}
	return err
}
