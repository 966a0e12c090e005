package testkit

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestTargets: an accepting target closes each connection at once (EOF),
// also when it comes back on its address; a silent one holds it and never
// answers.
func TestTargets(t *testing.T) {
	first := Accepting(t)
	addr := first.Addr().String()
	if err := firstRead(t, addr); !errors.Is(err, io.EOF) {
		t.Errorf("accepting: read %v, want EOF", err)
	}
	first.Close()
	AcceptingOn(t, addr)
	if err := firstRead(t, addr); !errors.Is(err, io.EOF) {
		t.Errorf("accepting again on %s: read %v, want EOF", addr, err)
	}
	if err := firstRead(t, Silent(t).Addr().String()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent: read %v, want a timeout", err)
	}
}

// firstRead connects to addr and returns what reading a byte ends with,
// waiting 200 ms at most.
func firstRead(t *testing.T, addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	return err
}
