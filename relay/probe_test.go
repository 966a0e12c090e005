package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
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
	testkit.Eventually(t, 5*time.Second, "probe allocations to end", func() bool { return r.Stats().Allocations == 0 })
}

// TestProbeDraining: a draining relay refuses the probe's allocation but
// is alive; a wrong secret still fails.
func TestProbeDraining(t *testing.T) {
	r := startRelay(t, "127.0.0.24", Config{})
	tests := []struct {
		name      string
		alternate string
		secret    []byte
		draining  bool // ProbeOptions.Draining
		ok        bool
	}{
		{"300 try alternate", "127.0.0.25:3478", testSecret, false, true},
		{"508 known to drain", "", testSecret, true, true},
		{"508 not known to drain", "", testSecret, false, false},
		{"wrong secret", "127.0.0.25:3478", []byte("another secret of 32 bytes......"), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.SetDraining(true, tt.alternate); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Probe(ctx, "127.0.0.24:3478", tt.secret, ProbeOptions{LocalAddr: "127.0.0.1:0", Draining: tt.draining})
			if (err == nil) != tt.ok {
				t.Fatalf("Probe = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
