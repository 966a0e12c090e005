package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestSet(t *testing.T) {
	s := NewSet(t.TempDir())
	if err := s.Start("sleeper", exec.Command("sleep", "30")); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("sleeper", exec.Command("sleep", "30")); err == nil {
		t.Error("a second start of a running name succeeded")
	}
	if !s.Running("sleeper") {
		t.Fatal("sleeper not running")
	}
	s.Stop("sleeper", syscall.SIGTERM, 5*time.Second)
	if s.Running("sleeper") {
		t.Fatal("sleeper running after Stop")
	}
	if name := <-s.Exited(); name != "sleeper" {
		t.Errorf("exited %q", name)
	}
	// A process that ignores SIGTERM is killed after the limit.
	if err := s.Start("stubborn", exec.Command("sh", "-c", "trap '' TERM; echo trapped; sleep 30")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the shell's trap", func() bool {
		b, _ := os.ReadFile(filepath.Join(s.LogDir(), "stubborn.log"))
		return strings.Contains(string(b), "\ntrapped\n") // its output, not the command line above it
	})
	if killed := s.StopAll(200 * time.Millisecond); len(killed) != 1 || killed[0] != "stubborn" {
		t.Errorf("StopAll killed %v, want [stubborn]", killed)
	}
}

// TestStartLog: each start writes the tagged start line and the command
// line that starts the process again by hand, in its directory and
// appending to its log; a restart appends to the same log.
func TestStartLog(t *testing.T) {
	s := NewSet(t.TempDir(), Tag("demo"))
	wd, _ := os.Getwd()
	cmd := exec.Command("sh", "-c", `echo "it's me"`)
	if err := s.Start("echo", cmd); err != nil {
		t.Fatal(err)
	}
	<-s.Done("echo")
	log := s.Log("echo")
	if log != filepath.Join(s.LogDir(), "echo.log") {
		t.Errorf("Log = %s", log)
	}
	want := "cd " + shellQuote([]string{wd}) + " && sh -c 'echo \"it'\\''s me\"' 2>&1 | tee -a " + log
	if got := s.CommandLine("echo"); got != want {
		t.Errorf("CommandLine = %q, want %q", got, want)
	}
	b, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(b), "# demo: echo started at ") || !strings.Contains(string(b), " with:\n# "+want+"\nit's me\n") {
		t.Errorf("log:\n%s", b)
	}
	// A restart with a directory and an environment of its own.
	cmd = exec.Command("true")
	cmd.Dir, cmd.Env = "/", []string{"A=b c"}
	if err := s.Start("echo", cmd); err != nil {
		t.Fatal(err)
	}
	<-s.Done("echo")
	want = "cd / && env -i 'A=b c' true 2>&1 | tee -a " + log
	if got := s.CommandLine("echo"); got != want {
		t.Errorf("CommandLine = %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(log); strings.Count(string(b), "# demo: echo started at ") != 2 {
		t.Errorf("restart did not append:\n%s", b)
	}
	if names := s.Names(); len(names) != 1 || names[0] != "echo" {
		t.Errorf("Names = %v", names)
	}
	// Untagged, the start line names only the process.
	u := NewSet(t.TempDir())
	if err := u.Start("x", exec.Command("true")); err != nil {
		t.Fatal(err)
	}
	<-u.Done("x")
	if b, _ := os.ReadFile(u.Log("x")); !strings.HasPrefix(string(b), "# x started at ") {
		t.Errorf("untagged log:\n%s", b)
	}
}

// TestExit: a process's exit is notified once, after Done is closed and
// with its status, pid and log tail at hand; StopAll returns only after
// every notification.
func TestExit(t *testing.T) {
	type exit struct {
		name    string
		running bool
		err     string
		pid     int
		tail    string
	}
	var s *Set
	exits := make(chan exit, 8)
	release := make(chan struct{})
	s = NewSet(t.TempDir(), OnExit(func(name string) {
		e := exit{name: name, running: s.Running(name), pid: s.Pid(name), tail: s.Tail(name, 2)}
		if err := s.Err(name); err != nil {
			e.err = err.Error()
		}
		exits <- e
		if name == "slow" {
			<-release
		}
	}))
	if s.Done("none") != nil || s.Pid("none") != 0 || s.CommandLine("none") != "" || s.Tail("none", 3) != "" {
		t.Error("a name never started has a process")
	}
	if err := s.Start("failer", exec.Command("sh", "-c", "echo one; echo two; echo three; exit 3")); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid("failer")
	<-s.Done("failer")
	e := <-exits
	if e.name != "failer" || e.running || e.err != "exit status 3" || e.pid != pid || e.tail != "two\nthree\n" {
		t.Errorf("exit %+v, pid %d", e, pid)
	}
	if name := <-s.Exited(); name != "failer" {
		t.Errorf("exited %q", name)
	}
	if err := s.Start("nonesuch", exec.Command("/nonexistent/binary")); err == nil {
		t.Error("start of a missing binary succeeded")
	}
	if err := s.Start("slow", exec.Command("sleep", "30")); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan []string)
	go func() { stopped <- s.StopAll(5 * time.Second) }()
	if e := <-exits; e.name != "slow" || e.err != "signal: terminated" {
		t.Errorf("exit %+v", e)
	}
	select {
	case <-stopped:
		t.Fatal("StopAll returned before the exit was handled")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if killed := <-stopped; len(killed) != 0 {
		t.Errorf("StopAll killed %v", killed)
	}
	select {
	case e := <-exits:
		t.Errorf("a second notification: %+v", e)
	default:
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"meridian", "node", "--name", "us-1", "--listen", "127.0.0.1:7801"}, "meridian node --name us-1 --listen 127.0.0.1:7801"},
		{[]string{"a b", "", "it's", "$HOME"}, `'a b' '' 'it'\''s' '$HOME'`},
	} {
		if got := shellQuote(tc.args); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.args, got, tc.want)
		}
	}
}
