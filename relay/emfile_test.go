package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// emfileChild names the environment variable that makes
// TestEMFILERecovery run the relay side in a child process.
const emfileChild = "MERIDIAN_RELAY_EMFILE_CHILD"

// TestEMFILERecovery drives a relay in a child process with a low open
// file limit into EMFILE by opening many TCP connections, then closes
// them: the accept loop rides the errors out (counted), and a valid
// client allocates again.
func TestEMFILERecovery(t *testing.T) {
	if os.Getenv(emfileChild) != "" {
		runEMFILEChild()
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	const ip = "127.0.0.110"
	cmd := exec.Command(os.Args[0], "-test.run=^TestEMFILERecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(), emfileChild+"=1")
	child := testkit.StartChild(t, cmd)
	stderr := child.Stderr
	expect := func(prefix string) string {
		t.Helper()
		return strings.TrimSpace(child.Expect(t, prefix, 30*time.Second))
	}
	expect("READY")

	// The flood: more connections than the child has descriptors.
	const flood = 150
	var conns []net.Conn
	var closeOnce sync.Once
	closeFlood := func() {
		closeOnce.Do(func() {
			for _, c := range conns {
				c.Close()
			}
		})
	}
	defer closeFlood()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.111")}, Timeout: 5 * time.Second}
	for i := range flood {
		c, err := d.Dial("tcp4", ip+":3478")
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	testkit.Eventually(t, 20*time.Second, "the child to run out of descriptors", func() bool {
		return strings.Contains(stderr.String(), "relay accept error")
	})
	if !strings.Contains(stderr.String(), "too many open files") {
		t.Error("the accept errors are not EMFILE (the child's stderr follows)")
	}
	closeFlood()

	// Back: a valid client allocates again once the flood is gone.
	start := time.Now()
	var c *turnClient
	var err error
	for attempt := 0; c == nil && attempt < 40; attempt++ {
		if c, err = dialUser(t, "tcp", "127.0.0.112", ip+":3478", "back"); err != nil {
			c = nil
			time.Sleep(250 * time.Millisecond)
		}
	}
	if c == nil {
		t.Fatalf("no allocation after the flood: %v", err)
	}
	t.Logf("allocating again %s after the flood closed", time.Since(start).Round(time.Millisecond))
	c.close()

	child.CloseInput()
	n, err := strconv.Atoi(expect("ACCEPT_ERRORS"))
	if err != nil || n < 1 {
		t.Errorf("child counted %d accept errors (%v), want some", n, err)
	}
	t.Logf("child: meridian_relay_accept_errors_total{tcp} = %d", n)
}

// runEMFILEChild is the child's side: a relay under a low descriptor
// limit until stdin closes, then its accept error count.
func runEMFILEChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	lim := syscall.Rlimit{Cur: 40, Max: 40}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err == nil {
		lim.Max = cur.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := New(testConfig("127.0.0.110", Config{Relay: cluster.Relay{PortMin: 42000, PortMax: 42999}, UDPSockets: 1, Logger: logger}))
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
	var n uint64
	for _, l := range r.tcpListeners() {
		n += l.acceptErrors.Load()
	}
	fmt.Printf("ACCEPT_ERRORS %d\n", n)
	cancel()
	<-done
	os.Exit(0)
}
