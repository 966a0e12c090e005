package testkit

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestTargets: an accepting target closes at once (EOF), a silent one
// holds the connection and never answers.
func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) net.Listener
		want   error
	}{
		{"accepting", func(t *testing.T) net.Listener { return Accepting(t) }, io.EOF},
		{"accepting again on its address", func(t *testing.T) net.Listener {
			first := Accepting(t)
			first.Close()
			return AcceptingOn(t, first.Addr().String())
		}, io.EOF},
		{"silent", func(t *testing.T) net.Listener { return Silent(t) }, os.ErrDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.target(t).Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
		})
	}
}
