package relay

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	r := startRelay(t, "127.0.0.21", Config{})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := Probe(ctx, "127.0.0.21:3478", testSecret, ProbeOptions{Network: network, LocalAddr: "127.0.0.1:0"}); err != nil {
				t.Fatalf("Probe: %v", err)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := Probe(ctx, "127.0.0.21:3478", []byte("another secret of 32 bytes......"), ProbeOptions{LocalAddr: "127.0.0.1:0"})
		if !errors.Is(err, ErrProbe) {
			t.Fatalf("Probe with a wrong secret: %v, want ErrProbe", err)
		}
	})
	waitFor(t, "probe allocations to end", 5*time.Second, func() bool { return r.Stats().Allocations == 0 })
}
