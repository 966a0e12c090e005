package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/proc"
)

// supervisor runs the demo's child processes on a proc.Set, whose logs
// start with the command line of each child. When one dies the others keep
// running, and the supervisor says which one died, shows the end of its
// log and how to start it again.
type supervisor struct {
	logDir string
	out    io.Writer // messages for the operator
	procs  *proc.Set

	failed atomic.Bool // a child died or did not start: the logs are kept

	mu       sync.Mutex
	running  bool // every child started: a death is reported, not returned
	stopping bool
	reported map[string]bool // the children whose death was told
}

// stopGrace is how long stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// logTail is how many lines of a dead child's log the supervisor shows.
const logTail = 8

func newSupervisor(logDir string, out io.Writer) *supervisor {
	s := &supervisor{logDir: logDir, out: out, reported: map[string]bool{}}
	s.procs = proc.NewSet(logDir, proc.Tag("demo"), proc.OnExit(s.exited))
	return s
}

// start runs bin with args as the child name; its output goes to
// logDir/name.log.
func (s *supervisor) start(name, bin string, args ...string) error {
	if err := s.procs.Start(name, exec.Command(bin, args...)); err != nil {
		s.failed.Store(true)
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// exited reports a child that died while the demo runs; one stopped by
// stop is not a failure. A death during the start is the start's error.
func (s *supervisor) exited(name string) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.failed.Store(true)
	if !s.running || s.reported[name] {
		s.mu.Unlock()
		return
	}
	s.reported[name] = true
	s.mu.Unlock()
	s.report(name)
}

// report says which child died, shows the end of its log and how to
// start it again.
func (s *supervisor) report(name string) {
	status := "exited with status 0"
	if err := s.procs.Err(name); err != nil {
		status = err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: %s (pid %d) died: %s. The others keep running.\n", name, s.procs.Pid(name), status)
	if tail := s.procs.Tail(name, logTail); tail != "" {
		fmt.Fprintf(&b, "  the end of its log, %s:\n", s.procs.Log(name))
		for l := range strings.Lines(tail) {
			b.WriteString("    " + l)
		}
	}
	fmt.Fprintf(&b, "  to start it again, run in another terminal:\n    %s\n", s.procs.CommandLine(name))
	s.mu.Lock()
	io.WriteString(s.out, b.String())
	s.mu.Unlock()
}

// started marks the start done: from now on a death is reported as it
// happens.
func (s *supervisor) started() {
	s.mu.Lock()
	s.running = true
	var dead []string
	for _, name := range s.procs.Names() {
		if !s.procs.Running(name) && !s.reported[name] {
			s.reported[name] = true
			dead = append(dead, name)
		}
	}
	s.mu.Unlock()
	for _, name := range dead {
		s.report(name)
	}
}

// Failed reports whether a child died or did not start.
func (s *supervisor) Failed() bool { return s.failed.Load() }

// stop sends SIGTERM to every running child, newest first, and SIGKILL to
// any still running after stopGrace; it returns once their exits are
// handled, naming those it had to kill.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for _, name := range s.procs.StopAll(stopGrace) {
		fmt.Fprintf(s.out, "demo: %s did not stop within %s; killed it\n", name, stopGrace)
	}
}

// summary lists the children with their pids and logs.
func (s *supervisor) summary() string {
	var b strings.Builder
	for _, name := range s.procs.Names() {
		fmt.Fprintf(&b, "  %-16s pid %-7d %s\n", name, s.procs.Pid(name), s.procs.Log(name))
	}
	return b.String()
}

// demoPort is a port the demo listens on.
type demoPort struct {
	what    string // "director", "node us-traffic1", "dns"
	network string // tcp or udp
	addr    string // host:port
}

// checkPorts tries each port at once and names every one taken, so that a
// port left busy by an earlier run is reported before anything starts.
func checkPorts(ports []demoPort) error {
	var errs []error
	for _, p := range ports {
		var err error
		switch p.network {
		case "udp":
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", p.addr); err == nil {
				c.Close()
			}
		default:
			var l net.Listener
			if l, err = net.Listen("tcp", p.addr); err == nil {
				l.Close()
			}
		}
		if err == nil {
			continue
		}
		_, port, _ := net.SplitHostPort(p.addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			errs = append(errs, fmt.Errorf("port %s/%s of the %s (%s) is already in use: is an earlier demo still running? (ss -lnp 'sport = :%s' shows who holds it)", port, p.network, p.what, p.addr, port))
			continue
		}
		errs = append(errs, fmt.Errorf("port %s/%s of the %s (%s): %w", port, p.network, p.what, p.addr, err))
	}
	return errors.Join(errs...)
}

// waitUp waits until url answers 200, for at most limit; it gives up at
// once when the named child exits, which fails the demo.
func (s *supervisor) waitUp(ctx context.Context, name, url string, limit time.Duration) error {
	done := s.procs.Done(name)
	if done == nil {
		return fmt.Errorf("%s was not started", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- waitHTTP(ctx, url, limit) }()
	select {
	case err := <-errc:
		return err
	case <-done:
		s.failed.Store(true)
		return fmt.Errorf("%s exited during its start (%v); the end of %s:\n%s", name, s.procs.Err(name), s.procs.Log(name), s.procs.Tail(name, logTail))
	}
}

// demoPorts lists the ports the demo's processes listen on: the
// director's API, the node agents' health endpoints and relays, and with
// the generated Corefile the DNS server and its metrics.
func demoPorts(site *cluster.Site, dns bool) []demoPort {
	ports := []demoPort{{"director", "tcp", site.Masters.Primary.Internal}}
	for _, n := range site.Nodes {
		what := "node " + n.Name
		ports = append(ports, demoPort{what, "tcp", n.Internal})
		if n.IPv4.IsValid() {
			ports = append(ports,
				demoPort{what + " relay", "udp", net.JoinHostPort(n.IPv4.String(), strconv.Itoa(n.Relay.UDPPort))},
				demoPort{what + " relay", "tcp", net.JoinHostPort(n.IPv4.String(), strconv.Itoa(n.Relay.TCPPort))})
		}
	}
	if dns {
		ports = append(ports, demoPort{"dns server", "udp", "127.0.0.1:1053"}, demoPort{"dns server", "tcp", "127.0.0.1:1053"},
			demoPort{"dns metrics", "tcp", "127.0.0.1:9153"}, demoPort{"dns ready", "tcp", "127.0.0.1:8181"},
			demoPort{"dns health", "tcp", "127.0.0.1:8180"})
	}
	return ports
}

// printFailureHelp lists the processes and how to try a failure.
func printFailureHelp(out io.Writer, site *cluster.Site, s *supervisor) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nProcesses (each log starts with the command line that restarts it):\n%s", s.summary())
	if len(site.Nodes) > 0 {
		n := site.Nodes[0].Name
		fmt.Fprintf(&b, "\nTry a failure: kill node-%s (kill PID) and watch DNS move to another node:\n", n)
		fmt.Fprintf(&b, "  watch -n1 dig +short @127.0.0.1 -p 1053 %s A +subnet=10.1.0.0/24\n", site.TrafficHostname)
		fmt.Fprintf(&b, "Kill the director: DNS keeps answering from its last snapshot. The demo says\nhow to restart whatever died.\n")
	}
	io.WriteString(out, b.String())
}

// demoCleanup removes the demo's directory after a clean run, and keeps it
// after a failure or with -keep; the last line says which.
func demoCleanup(out io.Writer, dir string, keep, failed bool) {
	switch {
	case failed:
		fmt.Fprintf(out, "demo: stopped after a failure; logs and data kept in %s\n", dir)
	case keep:
		fmt.Fprintf(out, "demo: stopped; logs and data kept in %s\n", dir)
	default:
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(out, "demo: stopped; could not remove %s: %v\n", dir, err)
			return
		}
		fmt.Fprintf(out, "demo: stopped; removed %s (-keep keeps it)\n", dir)
	}
}
