package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestSupervisor: a child that dies is reported with its name, the end of
// its log and the command line that restarts it, while the others keep
// running; stop ends the rest without reporting them, and the directory
// of a failed demo is kept.
func TestSupervisor(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	s := newSupervisor(logs, out)
	if err := s.start("sleeper", "sleep", "30"); err != nil {
		t.Fatal(err)
	}
	if err := s.start("failer", "sh", "-c", "echo listen 127.0.0.1:7700: address already in use >&2; exit 3"); err != nil {
		t.Fatal(err)
	}
	if err := s.start("false", "false"); err != nil {
		t.Fatal(err)
	}
	// Deaths during the start are the start's business; once started,
	// they are reported, each once.
	<-s.procs.Done("false")
	s.started()
	testkit.Eventually(t, 5*time.Second, "both deaths reported", func() bool {
		return strings.Contains(out.String(), "demo: failer") && strings.Contains(out.String(), "demo: false")
	})
	msg := out.String()
	for _, want := range []string{
		"demo: failer (pid ", "died: exit status 3. The others keep running.",
		"the end of its log, " + filepath.Join(logs, "failer.log"),
		"    listen 127.0.0.1:7700: address already in use",
		"to start it again, run in another terminal:\n    cd ",
		"sh -c 'echo listen 127.0.0.1:7700: address already in use >&2; exit 3' 2>&1 | tee -a " + filepath.Join(logs, "failer.log"),
		"demo: false (pid ", "died: exit status 1.",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "demo: false ("); n != 1 {
		t.Errorf("death of false reported %d times", n)
	}
	log, _ := os.ReadFile(filepath.Join(logs, "sleeper.log"))
	if !strings.HasPrefix(string(log), "# demo: sleeper started at ") || !strings.Contains(string(log), "sleep 30 2>&1 | tee -a ") {
		t.Errorf("log does not start with the command line:\n%s", log)
	}
	select {
	case <-s.procs.Done("sleeper"):
		t.Fatal("a death stopped the others")
	default:
	}
	if !s.Failed() {
		t.Error("deaths not marked as a failure")
	}
	if sum := s.summary(); !strings.Contains(sum, "sleeper") || !strings.Contains(sum, "pid ") {
		t.Errorf("summary: %s", sum)
	}

	start := time.Now()
	s.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s", d)
	}
	if strings.Contains(out.String(), "demo: sleeper") {
		t.Errorf("a child stopped by the demo reported as dead:\n%s", out.String())
	}

	demoCleanup(out, dir, false, s.Failed())
	if _, err := os.Stat(logs); err != nil {
		t.Errorf("logs of a failed demo removed: %v", err)
	}
	if !strings.HasSuffix(out.String(), "logs and data kept in "+dir+"\n") {
		t.Errorf("last message does not point at the kept directory:\n%s", out.String())
	}
}

// TestSupervisorCleanRun: a demo stopped without a failure reports no
// death and removes its directory, saying so.
func TestSupervisorCleanRun(t *testing.T) {
	dir := t.TempDir()
	out := &testkit.Buffer{}
	s := newSupervisor(dir, out)
	if err := s.start("sleeper", "sleep", "30"); err != nil {
		t.Fatal(err)
	}
	s.started()
	s.stop()
	demoCleanup(out, dir, false, s.Failed())
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory of a clean run kept: %v", err)
	}
	if got := out.String(); got != "demo: stopped; removed "+dir+" (-keep keeps it)\n" {
		t.Errorf("output %q", got)
	}
}

// TestSupervisorWaitUp: waiting for a child to serve ends as soon as it
// dies, with its log's end, not at the time limit.
func TestSupervisorWaitUp(t *testing.T) {
	dir := t.TempDir()
	s := newSupervisor(dir, &testkit.Buffer{})
	if err := s.start("director", "sh", "-c", "echo bind: address already in use; sleep 0.2; exit 1"); err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	start := time.Now()
	err := s.waitUp(context.Background(), "director", "http://"+testkit.FreeAddr(t)+"/healthz", 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "director exited during its start") || !strings.Contains(err.Error(), "bind: address already in use") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s to see the death", d)
	}
	if !s.Failed() {
		t.Error("a death during the start is not a failure")
	}
}

// TestCheckPorts: a port in use is named within 2 s, TCP and UDP; free
// ones pass.
func TestCheckPorts(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	_, tport, _ := net.SplitHostPort(tcp.Addr().String())
	_, uport, _ := net.SplitHostPort(udp.LocalAddr().String())
	free := testkit.FreeAddr(t)

	start := time.Now()
	err = checkPorts([]demoPort{
		{"director", "tcp", tcp.Addr().String()},
		{"node n1", "tcp", free},
		{"dns server", "udp", udp.LocalAddr().String()},
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
	if err == nil {
		t.Fatal("ports in use not reported")
	}
	for _, want := range []string{
		"port " + tport + "/tcp of the director (" + tcp.Addr().String() + ") is already in use",
		"port " + uport + "/udp of the dns server",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), free) {
		t.Errorf("a free port reported: %v", err)
	}
	if err := checkPorts([]demoPort{{"node n1", "tcp", free}}); err != nil {
		t.Errorf("free port: %v", err)
	}
}
