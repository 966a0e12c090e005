package labrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/lab/topo"
)

// frrDir holds the FRR daemons of the Debian package.
const frrDir = "/usr/lib/frr"

// frrConf is where the router's config is bound in its container.
const frrConf = "/etc/frr/frr.conf"

// frrRunDir is the router's FRR directory: sockets, pid files, config.
func (e *Env) frrRunDir(r *topo.Node) string { return filepath.Join(e.dir, "frr", r.Name) }

// startFRR runs zebra and bgpd in router r's namespace, every path under
// the run directory so that several instances never share a socket.
func (e *Env) startFRR(ctx context.Context, r *topo.Node) error {
	m, err := e.pathsFor(r)
	if err != nil {
		return err
	}
	conf := m.rewrite(frrConf)
	if conf == frrConf {
		return fmt.Errorf("topology: router %s binds nothing at %s", r.Name, frrConf)
	}
	dir := e.frrRunDir(r)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("frr %s: %w", r.Name, err)
	}
	// The daemons run as frr and write their sockets and pid files here.
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("frr %s: %w", r.Name, err)
	}
	zebraConf := filepath.Join(dir, "zebra.conf")
	if err := writeFile(zebraConf, []byte("hostname "+r.Name+"\n"), 0o644); err != nil {
		return fmt.Errorf("frr %s: %w", r.Name, err)
	}
	zsock := filepath.Join(dir, "zserv.api")
	common := []string{"-u", "frr", "-g", "frr", "-P", "0", "--vty_socket", dir, "-z", zsock}
	if err := e.procs.Start(r.Name+"-zebra", e.lab.Command(r.Name, filepath.Join(frrDir, "zebra"),
		append([]string{"-f", zebraConf, "-i", filepath.Join(dir, "zebra.pid")}, common...)...)); err != nil {
		return err
	}
	// bgpd connects to zebra's socket; wait for it so that the first
	// routes are not lost to a retry timer.
	if err := waitFor(ctx, 10*time.Second, func() bool { _, err := os.Stat(zsock); return err == nil }); err != nil {
		return fmt.Errorf("frr %s: zebra did not create its socket (logs in %s)", r.Name, e.procs.LogDir())
	}
	return e.procs.Start(r.Name+"-bgpd", e.lab.Command(r.Name, filepath.Join(frrDir, "bgpd"),
		append([]string{"-f", conf, "-i", filepath.Join(dir, "bgpd.pid")}, common...)...))
}

// vtysh runs one show command on router r.
func (e *Env) vtysh(r *topo.Node, command string) (string, error) {
	out, err := e.lab.Command(r.Name, "vtysh", "--vty_socket", e.frrRunDir(r), "-c", command).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("vtysh %s on %s: %w: %s", command, r.Name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// routeVia returns the next hops of router r's kernel route for prefix;
// none when it has no route.
func (e *Env) routeVia(r *topo.Node, prefix string) ([]string, error) {
	args := []string{"-n", e.lab.NS(r.Name)}
	if famOf(prefix) == v6 {
		args = append(args, "-6")
	}
	out, err := exec.Command("ip", append(args, "route", "show", "exact", prefix)...).Output()
	if err != nil {
		return nil, fmt.Errorf("ip route on %s: %w", r.Name, err)
	}
	var via []string
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "via" && i+1 < len(f) {
			via = append(via, f[i+1])
		}
	}
	return via, nil
}

// waitFor polls cond every 10ms until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
