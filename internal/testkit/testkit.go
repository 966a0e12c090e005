// Package testkit holds the scaffolding the module's tests share: polling
// with a bounded wait, loopback TLS certificates, a locked log buffer,
// background runs stopped at the end of a test, free loopback ports and
// TCP targets (accepting, silent), child processes spoken to line by line,
// a packet stream pump, site fixtures, a reader of Prometheus series and
// an error check for table tests.
//
// Only tests (and the lab and benchmark tools) may import it; it imports
// no package of the module, so the tests of every package, cluster's
// included, can use it.
package testkit

import (
	"net"
	"strings"
	"testing"
	"time"
)

// pollEvery is how often Eventually and Poll test their condition.
const pollEvery = 10 * time.Millisecond

// Eventually polls cond every 10 ms until it holds; if timeout passes
// first it fails the test with "timed out after <timeout> waiting for
// <what>".
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Poll polls cond every 10 ms until it holds (true) or timeout passes
// (false), for callers that report the failure themselves.
func Poll(timeout time.Duration, cond func() bool) bool {
	return PollEvery(timeout, pollEvery, cond)
}

// PollEvery is Poll at the given interval, for timing measurements that
// want a finer one.
func PollEvery(timeout, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
	return true
}

// FreeAddr returns a loopback host:port where nothing listens now: a
// port that was just closed.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l := listen(t)
	defer l.Close()
	return l.Addr().String()
}

// FreePort is the port of a FreeAddr.
func FreePort(t testing.TB) int {
	t.Helper()
	l := listen(t)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Listen returns a TCP listener on a loopback port, closed when the test
// ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l := listen(t)
	t.Cleanup(func() { l.Close() })
	return l
}

// Accepting returns a loopback TCP listener that accepts and closes every
// connection until it is closed or the test ends: a TCP health target that
// is up.
func Accepting(t testing.TB) net.Listener {
	t.Helper()
	return AcceptingOn(t, "127.0.0.1:0")
}

// Silent returns a loopback TCP listener that accepts every connection
// and never answers, holding it open until the test ends: a hung server.
func Silent(t testing.TB) net.Listener {
	t.Helper()
	l := Listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l
}

// AcceptingOn is Accepting on addr, for a target that comes back on the
// address it had.
func AcceptingOn(t testing.TB, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// WantErr fails the test unless err matches want: no error for "", else
// an error whose text contains want.
func WantErr(t testing.TB, err error, want string) {
	t.Helper()
	if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
