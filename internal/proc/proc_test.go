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
		return strings.Contains(string(b), "trapped")
	})
	if killed := s.StopAll(200 * time.Millisecond); len(killed) != 1 || killed[0] != "stubborn" {
		t.Errorf("StopAll killed %v, want [stubborn]", killed)
	}
}
