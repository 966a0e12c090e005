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
	accepting := Accepting(t)
	for _, tc := range []struct {
		name string
		addr string
		want error
	}{
		{"accepting", accepting.Addr().String(), io.EOF},
		{"accepting again on its address", func() string {
			addr := accepting.Addr().String()
			accepting.Close()
			return AcceptingOn(t, addr).Addr().String()
		}(), io.EOF},
		{"silent", Silent(t).Addr().String(), os.ErrDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tc.addr)
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
