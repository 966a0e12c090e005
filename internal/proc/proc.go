// Package proc supervises named child processes, each in its own process
// group with its output in a log file: the demo's and the lab's processes.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Set is a set of long-running child processes, by name. Its methods are
// safe for concurrent use.
type Set struct {
	logDir string
	mu     sync.Mutex
	byName map[string]*child
	order  []string
	exited chan string
}

type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// NewSet returns an empty Set whose processes log to logDir/NAME.log.
func NewSet(logDir string) *Set {
	return &Set{logDir: logDir, byName: map[string]*child{}, exited: make(chan string, 16)}
}

// LogDir is the directory of the log files.
func (s *Set) LogDir() string { return s.logDir }

// Exited receives the name of each process as it exits (the first 16
// unread ones at most).
func (s *Set) Exited() <-chan string { return s.exited }

// Start runs cmd under name, its output appended to LogDir/name.log, in
// its own process group: a terminal's Ctrl-C reaches only this program,
// which then stops the children in order. A name already running is an
// error.
func (s *Set) Start(name string, cmd *exec.Cmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byName[name]; old != nil && !old.exitedNow() {
		return fmt.Errorf("start %s: already running", name)
	}
	f, err := os.OpenFile(filepath.Join(s.logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(c.done)
		select {
		case s.exited <- name:
		default:
		}
	}()
	if s.byName[name] == nil {
		s.order = append(s.order, name)
	}
	s.byName[name] = c
	return nil
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

// Running reports whether the named process runs.
func (s *Set) Running(name string) bool {
	c := s.get(name)
	return c != nil && !c.exitedNow()
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
// SIGKILL to any still running after limit. It returns the names of those
// it had to kill.
func (s *Set) StopAll(limit time.Duration) (killed []string) {
	s.mu.Lock()
	names := append([]string(nil), s.order...)
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
	return killed
}
