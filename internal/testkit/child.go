package testkit

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Child is a process a test talks to line by line: commands go to its
// stdin, answers come from its stdout, and its stderr is kept for the
// failure report.
type Child struct {
	stdin  io.WriteCloser
	lines  chan string
	Stderr *Buffer
}

// childGrace is how long a child has to stop after its stdin closes before
// it is killed.
const childGrace = 10 * time.Second

// StartChild starts cmd, whose stdin, stdout and stderr it takes. The
// child ends with the test: its stdin closes (EOF asks it to stop), and
// after 10 seconds it is killed; when the test failed its stderr is
// logged.
func StartChild(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	c := &Child{lines: make(chan string, 16), Stderr: &Buffer{}}
	cmd.Stderr = c.Stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(childGrace):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("child %s stderr:\n%s", cmd.Path, c.Stderr)
		}
	})
	return c
}

// Send writes one line to the child's stdin.
func (c *Child) Send(t testing.TB, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(c.stdin, line); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// CloseInput closes the child's stdin.
func (c *Child) CloseInput() { c.stdin.Close() }

// Expect returns the rest of the child's next line that starts with
// prefix, skipping others, or fails the test when the child ends or
// timeout passes first.
func (c *Child) Expect(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child ended before %q", prefix) // its stderr follows
			}
			if rest, found := strings.CutPrefix(l, prefix); found {
				return rest
			}
		case <-deadline:
			t.Fatalf("no %q from the child within %s", prefix, timeout)
		}
	}
}
