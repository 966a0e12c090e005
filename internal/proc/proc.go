// Package proc supervises named child processes, each in its own process
// group with its output in a log file: the demo's and the lab's processes.
// Each log records, above every start, the shell command line that starts
// the process again by hand.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Set is a set of long-running child processes, by name. Its methods are
// safe for concurrent use.
type Set struct {
	logDir string
	tag    string
	onExit func(name string)

	mu     sync.Mutex
	byName map[string]*child
	order  []string // names in the order of their first start
	all    []*child // every start, restarts included
	exited chan string
}

type child struct {
	cmd     *exec.Cmd
	cmdline string
	err     error         // the exit status, set before done is closed
	done    chan struct{} // closed when the process has exited
	handled chan struct{} // closed when its exit has been notified
}

// Option configures a Set.
type Option func(*Set)

// Tag names the supervisor in the line each start writes at the top of
// its log: "# TAG: NAME started at TIME with:".
func Tag(tag string) Option { return func(s *Set) { s.tag = tag } }

// OnExit has f called with a process's name after each exit, from the
// goroutine that waited for it: Running is false by then, Err holds the
// exit status, and StopAll returns only after f returned.
func OnExit(f func(name string)) Option { return func(s *Set) { s.onExit = f } }

// NewSet returns an empty Set whose processes log to logDir/NAME.log.
func NewSet(logDir string, opts ...Option) *Set {
	s := &Set{logDir: logDir, byName: map[string]*child{}, exited: make(chan string, 16)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// LogDir is the directory of the log files.
func (s *Set) LogDir() string { return s.logDir }

// Log is the path of the named process's log file.
func (s *Set) Log(name string) string { return filepath.Join(s.logDir, name+".log") }

// Exited receives the name of each process as it exits (the first 16
// unread ones at most).
func (s *Set) Exited() <-chan string { return s.exited }

// Start runs cmd under name, its output appended to LogDir/name.log, in
// its own process group: a terminal's Ctrl-C reaches only this program,
// which then stops the children in order. The log gets first a line with
// the start time and one with the command line that starts it by hand
// (see CommandLine). A name already running is an error.
func (s *Set) Start(name string, cmd *exec.Cmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byName[name]; old != nil && !old.exitedNow() {
		return fmt.Errorf("start %s: already running", name)
	}
	log := s.Log(name)
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	cmdline := commandLine(cmd, log)
	tag := ""
	if s.tag != "" {
		tag = s.tag + ": "
	}
	fmt.Fprintf(f, "# %s%s started at %s with:\n# %s\n", tag, name, time.Now().Format(time.RFC3339), cmdline)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{cmd: cmd, cmdline: cmdline, done: make(chan struct{}), handled: make(chan struct{})}
	go func() {
		defer close(c.handled)
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
		if s.onExit != nil {
			s.onExit(name)
		}
		select {
		case s.exited <- name:
		default:
		}
	}()
	if s.byName[name] == nil {
		s.order = append(s.order, name)
	}
	s.byName[name] = c
	s.all = append(s.all, c)
	return nil
}

// commandLine is a POSIX shell line that runs cmd as Start does, in its
// directory and with its environment if it has its own, appending its
// output to log.
func commandLine(cmd *exec.Cmd, log string) string {
	args := cmd.Args
	if len(args) == 0 {
		args = []string{cmd.Path}
	}
	line := shellQuote(args) + " 2>&1 | tee -a " + shellQuote([]string{log})
	if cmd.Env != nil {
		line = "env -i " + shellQuote(cmd.Env) + " " + line
	}
	dir := cmd.Dir
	if dir == "" {
		dir, _ = os.Getwd() // relative paths stay right
	}
	if dir != "" {
		line = "cd " + shellQuote([]string{dir}) + " && " + line
	}
	return line
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

func (c *child) exitedNow() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (s *Set) get(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

// Names lists the processes started, in the order of their first start.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// Running reports whether the named process runs.
func (s *Set) Running(name string) bool {
	c := s.get(name)
	return c != nil && !c.exitedNow()
}

// Done is closed when the named process (its latest start) has exited;
// nil if it was never started.
func (s *Set) Done(name string) <-chan struct{} {
	if c := s.get(name); c != nil {
		return c.done
	}
	return nil
}

// Err is the named process's exit status once Done is closed: nil for a
// clean exit, an *exec.ExitError otherwise.
func (s *Set) Err(name string) error {
	c := s.get(name)
	if c == nil || !c.exitedNow() {
		return nil
	}
	return c.err
}

// Pid is the named process's pid, 0 if it was never started.
func (s *Set) Pid(name string) int {
	if c := s.get(name); c != nil {
		return c.cmd.Process.Pid
	}
	return 0
}

// CommandLine is the shell line that starts the named process again by
// hand as its latest start did, output appended to its log; "" if it was
// never started.
func (s *Set) CommandLine(name string) string {
	if c := s.get(name); c != nil {
		return c.cmdline
	}
	return ""
}

// Tail returns the last n lines of the named process's log, "" if it
// cannot be read.
func (s *Set) Tail(name string, n int) string {
	b, err := os.ReadFile(s.Log(name))
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

// Stop sends sig to the named process's group and waits up to limit for
// it to exit, killing the group after that.
func (s *Set) Stop(name string, sig syscall.Signal, limit time.Duration) {
	c := s.get(name)
	if c == nil || c.exitedNow() {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, sig)
	select {
	case <-c.done:
		return
	case <-time.After(limit):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// StopAll stops every process, newest first: SIGTERM to each group, then
// SIGKILL to any still running after limit. It returns, once every exit
// has been notified, the names of those it had to kill.
func (s *Set) StopAll(limit time.Duration) (killed []string) {
	s.mu.Lock()
	names := append([]string(nil), s.order...)
	all := append([]*child(nil), s.all...)
	s.mu.Unlock()
	for i := len(names) - 1; i >= 0; i-- {
		if c := s.get(names[i]); !c.exitedNow() {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	expired := false
	for _, n := range names {
		c := s.get(n)
		if !expired {
			select {
			case <-c.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		if !c.exitedNow() {
			killed = append(killed, n)
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-c.done
	}
	for _, c := range all {
		<-c.handled
	}
	return killed
}
