package testkit_test

import (
	"net"
	"testing"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestStream(t *testing.T) {
	a, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := testkit.Stream(a, b, 200, 500); err != nil {
		t.Fatal(err)
	}
}
