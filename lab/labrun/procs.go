package labrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// procs is the lab's long-running processes, by name.
type procs struct {
	logDir string
	mu     sync.Mutex
	byName map[string]*proc
	order  []string
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *os.File
}

func newProcs(logDir string) *procs {
	return &procs{logDir: logDir, byName: map[string]*proc{}}
}

// start runs cmd under name, its output appended to logDir/name.log. A
// name already running is an error.
func (p *procs) start(name string, cmd *exec.Cmd) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.byName[name]; old != nil && !old.exited() {
		return fmt.Errorf("start %s: already running", name)
	}
	f, err := os.OpenFile(filepath.Join(p.logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a terminal's Ctrl-C reaches only the runner, which
	// then stops everything in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(pr.done)
	}()
	if p.byName[name] == nil {
		p.order = append(p.order, name)
	}
	p.byName[name] = pr
	return nil
}

func (pr *proc) exited() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// running reports whether the named process runs.
func (p *procs) running(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.byName[name]
	return pr != nil && !pr.exited()
}

// stop sends sig to the named process's group and waits up to limit for it
// to exit, killing it after that.
func (p *procs) stop(name string, sig syscall.Signal, limit time.Duration) {
	p.mu.Lock()
	pr := p.byName[name]
	p.mu.Unlock()
	if pr == nil || pr.exited() {
		return
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, sig)
	select {
	case <-pr.done:
		return
	case <-time.After(limit):
	}
	_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	<-pr.done
}

// stopAll stops every process, newest first: SIGTERM, then SIGKILL for any
// still running after limit.
func (p *procs) stopAll(limit time.Duration) {
	p.mu.Lock()
	names := append([]string(nil), p.order...)
	p.mu.Unlock()
	for i := len(names) - 1; i >= 0; i-- {
		p.mu.Lock()
		pr := p.byName[names[i]]
		p.mu.Unlock()
		if !pr.exited() {
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	expired := false
	for _, n := range names {
		p.mu.Lock()
		pr := p.byName[n]
		p.mu.Unlock()
		if !expired {
			select {
			case <-pr.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		if !pr.exited() {
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-pr.done
	}
}
