package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// supervisor runs the demo's child processes. Each one's command line is
// printed at its start and written at the top of its log; when one dies
// the others keep running, and the supervisor says which one died, shows
// the end of its log and how to start it again.
type supervisor struct {
	logDir string
	out    io.Writer // messages for the operator

	mu       sync.Mutex
	procs    []*child
	running  bool // every child started: a death is reported, not returned
	stopping bool
	failed   bool // a child died or did not start: the logs are kept
	wg       sync.WaitGroup
}

// child is one supervised process.
type child struct {
	name    string
	cmdline string // how to start it by hand, its output going to its log
	log     string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, set before done is closed
	// reported: its death was told (under supervisor.mu)
	reported bool
}

// stopGrace is how long stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// logTail is how many lines of a dead child's log the supervisor shows.
const logTail = 8

func newSupervisor(logDir string, out io.Writer) *supervisor {
	return &supervisor{logDir: logDir, out: out}
}

// start runs bin with args as the child name; its output goes to
// logDir/name.log.
func (s *supervisor) start(name, bin string, args ...string) error {
	logPath := filepath.Join(s.logDir, name+".log")
	cmdline := shellQuote(append([]string{bin}, args...)) + " 2>&1 | tee -a " + shellQuote([]string{logPath})
	if wd, err := os.Getwd(); err == nil {
		cmdline = "cd " + shellQuote([]string{wd}) + " && " + cmdline // relative paths stay right
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.fail()
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(logf, "# demo: %s started at %s with:\n# %s\n", name, time.Now().Format(time.RFC3339), cmdline)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: the terminal's Ctrl-C reaches only the demo, which
	// then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.fail()
		return fmt.Errorf("demo: start %s: %w", name, err)
	}
	c := &child{name: name, cmdline: cmdline, log: logPath, cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.procs = append(s.procs, c)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
		s.exited(c)
	}()
	return nil
}

// exited reports a child that died while the demo runs; one stopped by
// stop is not a failure. A death during the start is the start's error.
func (s *supervisor) exited(c *child) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.failed = true
	if !s.running || c.reported {
		s.mu.Unlock()
		return
	}
	c.reported = true
	s.mu.Unlock()
	s.report(c)
}

// report says which child died, shows the end of its log and how to
// start it again.
func (s *supervisor) report(c *child) {
	status := "exited with status 0"
	if c.err != nil {
		status = c.err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: %s (pid %d) died: %s. The others keep running.\n", c.name, c.cmd.Process.Pid, status)
	if tail := lastLines(c.log, logTail); tail != "" {
		fmt.Fprintf(&b, "  the end of its log, %s:\n", c.log)
		for l := range strings.Lines(tail) {
			b.WriteString("    " + l)
		}
	}
	fmt.Fprintf(&b, "  to start it again, run in another terminal:\n    %s\n", c.cmdline)
	s.mu.Lock()
	io.WriteString(s.out, b.String())
	s.mu.Unlock()
}

// started marks the start done: from now on a death is reported as it
// happens.
func (s *supervisor) started() {
	s.mu.Lock()
	s.running = true
	var dead []*child
	for _, c := range s.procs {
		select {
		case <-c.done:
			if !c.reported {
				c.reported = true
				dead = append(dead, c)
			}
		default:
		}
	}
	s.mu.Unlock()
	for _, c := range dead {
		s.report(c)
	}
}

// fail marks the demo failed: its directory is kept.
func (s *supervisor) fail() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// Failed reports whether a child died or did not start.
func (s *supervisor) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// child returns the named child, nil if none.
func (s *supervisor) child(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.procs {
		if c.name == name {
			return c
		}
	}
	return nil
}

// stop sends SIGTERM to every running child, newest first, and SIGKILL to
// any still running after stopGrace; it waits until their exits are
// reported.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	procs := append([]*child(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	expired := false
	for _, c := range procs {
		if !expired {
			select {
			case <-c.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			fmt.Fprintf(s.out, "demo: %s did not stop; killing it\n", c.name)
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	s.wg.Wait()
}

// summary lists the children with their pids and logs.
func (s *supervisor) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, c := range s.procs {
		fmt.Fprintf(&b, "  %-16s pid %-7d %s\n", c.name, c.cmd.Process.Pid, c.log)
	}
	return b.String()
}

// lastLines returns the last n lines of a file, "" if it cannot be read.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}

// shellQuote joins args for a POSIX shell.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
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
// once when the named child exits.
func (s *supervisor) waitUp(ctx context.Context, name, url string, limit time.Duration) error {
	c := s.child(name)
	if c == nil {
		return fmt.Errorf("%s was not started", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- waitHTTP(ctx, url, limit) }()
	select {
	case err := <-errc:
		return err
	case <-c.done:
		return fmt.Errorf("%s exited during its start (%v); the end of %s:\n%s", name, c.err, c.log, lastLines(c.log, logTail))
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
			demoPort{"dns metrics", "tcp", "127.0.0.1:9153"})
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
