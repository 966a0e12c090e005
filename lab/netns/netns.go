// Package netns builds a lab topology out of Linux network namespaces and
// veth pairs, runs processes inside them and removes everything again.
// It shells out to iproute2 (`ip`), so it needs root.
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"

	"github.com/meridian-traffic/meridian/lab/topo"
)

// Prefix starts the name of every namespace the lab creates; Clean removes
// the ones left behind by runs that could not clean up.
const Prefix = "mlab"

// Lab is one run's namespaces.
type Lab struct {
	run     string   // Prefix + random id
	created []string // namespaces, in creation order
}

// New returns a lab with a fresh run id; nothing is created yet.
func New() *Lab {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return &Lab{run: Prefix + hex.EncodeToString(b)}
}

// Run is the run id, the prefix of this run's namespace names.
func (l *Lab) Run() string { return l.run }

// NS is the namespace name of a topology node.
func (l *Lab) NS(node string) string { return l.run + "-" + node }

// Build creates a namespace per node, a veth pair per link, and runs every
// node's exec commands. On error, what was built stays for Destroy.
func (l *Lab) Build(t *topo.Topology) error {
	for _, name := range t.Names() {
		ns := l.NS(name)
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		l.created = append(l.created, ns)
		if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, k := range t.Links {
		// Each end is created straight in its namespace, so both may carry
		// the container's name (eth1) without clashing in the root one.
		if err := ip("link", "add", k.A.Iface, "netns", l.NS(k.A.Node), "type", "veth",
			"peer", "name", k.B.Iface, "netns", l.NS(k.B.Node)); err != nil {
			return err
		}
		for _, e := range []topo.Endpoint{k.A, k.B} {
			if err := ip("-n", l.NS(e.Node), "link", "set", e.Iface, "up"); err != nil {
				return err
			}
		}
	}
	for _, name := range t.Names() {
		for k, v := range t.Nodes[name].Sysctls {
			if !strings.HasPrefix(k, "net.") {
				return fmt.Errorf("node %s: sysctl %s: only net.* is per namespace", name, k)
			}
			if out, err := exec.Command("ip", "netns", "exec", l.NS(name), "sysctl", "-q", "-w", k+"="+v).CombinedOutput(); err != nil {
				return fmt.Errorf("node %s: sysctl %s: %w: %s", name, k, err, strings.TrimSpace(string(out)))
			}
		}
		for _, e := range t.Nodes[name].Exec {
			args := strings.Fields(strings.TrimPrefix(e, "ip "))
			if err := ip(append([]string{"-n", l.NS(name)}, args...)...); err != nil {
				return fmt.Errorf("node %s: %w", name, err)
			}
		}
	}
	return nil
}

// Destroy kills any process still in the lab's namespaces and deletes
// them. It returns the first error but tries every namespace.
func (l *Lab) Destroy() error {
	var first error
	for i := len(l.created) - 1; i >= 0; i-- {
		if err := remove(l.created[i]); err != nil && first == nil {
			first = err
		}
	}
	l.created = nil
	return first
}

// Clean removes every namespace whose name starts with Prefix: leftovers
// of runs killed before they could clean up. It returns what it removed.
func Clean() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var removed []string
	var first error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		if err := remove(f[0]); err != nil && first == nil {
			first = err
		}
		removed = append(removed, f[0])
	}
	return removed, first
}

// remove kills the processes in ns (a deleted namespace would keep them
// running, unreachable) and deletes it.
func remove(ns string) error {
	if pids, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, p := range strings.Fields(string(pids)) {
			_ = exec.Command("kill", "-KILL", p).Run()
		}
	}
	return ip("netns", "del", ns)
}

// Command returns a command that runs name with args inside the node's
// namespace.
func (l *Lab) Command(node, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS(node), name}, args...)...)
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
