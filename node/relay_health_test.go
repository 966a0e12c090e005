//go:build linux

package node

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
	"github.com/meridian-traffic/meridian/relay"
)

// relayHealthSite is a site of two nodes on loopback addresses: n1 runs a
// real relay on 127.0.0.71, n2 only answers health. The director probes
// every 250 ms and marks a node down after one failure.
func relayHealthSite(addr1, addr2 string) []byte {
	return fmt.Appendf(nil, testkit.SiteHead("lab", "lab.example.", "127.0.0.1:1", testkit.HTTPHealth)+`  - {name: n1, ipv4: 127.0.0.71, internal: %q, relay: {udp_port: 3497, tcp_port: 3497, port_min: 41000, port_max: 41099}}
  - {name: n2, ipv4: 127.0.0.72, internal: %q}
`, addr1, addr2)
}

// listenerFD finds this process's descriptor of the TCP socket listening
// on addr (host:port, IPv4) through /proc.
func listenerFD(t *testing.T, ip string, port int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	var a [4]byte
	if _, err := fmt.Sscanf(ip, "%d.%d.%d.%d", &a[0], &a[1], &a[2], &a[3]); err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], port)
	inode := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			inode = f[9]
		}
	}
	if inode == "" {
		t.Fatalf("nothing listens on %s:%d", ip, port)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == "socket:["+inode+"]" {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	t.Fatalf("socket inode %s of %s:%d is not this process's", inode, ip, port)
	return -1
}

// TestRelayListenerDownFailsNode runs a node agent with a real relay
// against a real director, then shuts the relay's TCP listening socket
// down under it: the node's /healthz answers 503 naming the listener, the
// director marks the node down, and its selection engine stops choosing
// it.
func TestRelayListenerDownFailsNode(t *testing.T) {
	addr1, addr2 := testkit.FreeAddr(t), testkit.FreeAddr(t)
	d := clienttest.Start(t, relayHealthSite(addr1, addr2))
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	ctx := context.Background()

	relays, err := relay.NewPart(relay.Config{Secrets: [][]byte{cluster.RelaySecret(d.PSK)}, UDPSockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer relays.Close()
	a1 := start(t, Config{Name: "n1", Director: d.URL, PSK: d.PSK, Parts: []Part{relays}})
	start(t, Config{Name: "n2", Director: d.URL, PSK: d.PSK, Parts: []Part{&recorder{}}})

	// Clients in 64 networks: with two nodes up, random selection gives
	// n1 some of them.
	clients := make([]string, 64)
	for i := range clients {
		clients[i] = fmt.Sprintf("198.51.%d.7", i)
	}
	choosesN1 := func() (int, error) {
		n := 0
		for _, c := range clients {
			ex, err := adm.Explain(ctx, c, "")
			if err != nil {
				return 0, err
			}
			if slices.Contains(ex.Nodes, "n1") {
				n++
			}
		}
		return n, nil
	}

	testkit.Eventually(t, 15*time.Second, "n1 health 200", func() bool { return a1.HealthAddr() == addr1 && healthIs(t, addr1, 200)() })
	testkit.Eventually(t, 15*time.Second, "director sees both up", func() bool {
		ns, err := adm.Nodes(ctx)
		if err != nil || len(ns) != 2 {
			return false
		}
		for _, n := range ns {
			if n.Health != cluster.Up {
				return false
			}
		}
		return true
	})
	if n, err := choosesN1(); err != nil || n == 0 {
		t.Fatalf("before: n1 chosen for %d of %d clients (%v), want some", n, len(clients), err)
	}

	// The accept loop ends on the shut-down socket (EINVAL): not a
	// temporary error.
	fd := listenerFD(t, "127.0.0.71", 3497)
	killed := time.Now()
	if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err != nil {
		t.Fatalf("shutdown listener: %v", err)
	}
	var body string
	testkit.Eventually(t, 5*time.Second, "n1 health 503", func() bool {
		var code int
		code, body = get(t, addr1, PathHealth)
		return code == http.StatusServiceUnavailable
	})
	t.Logf("health 503 %s after the kill: %s", time.Since(killed).Round(time.Millisecond), strings.TrimSpace(body))
	if !strings.Contains(body, "tcp 127.0.0.71:3497") || !strings.Contains(body, "relay listener not serving") {
		t.Errorf("health body %q does not name the relay's TCP listener", body)
	}
	if in := info(t, addr1); in.Serving || !strings.Contains(in.Reason, "tcp 127.0.0.71:3497") {
		t.Errorf("info %+v", in)
	}

	// interval × fall = 250 ms; allow ample slack for a loaded machine.
	testkit.Eventually(t, 15*time.Second, "director marks n1 down", func() bool {
		ns, err := adm.Nodes(ctx)
		if err != nil {
			return false
		}
		for _, n := range ns {
			if n.Name == "n1" {
				return n.Health == cluster.Down
			}
		}
		return false
	})
	t.Logf("director marks n1 down %s after the kill", time.Since(killed).Round(time.Millisecond))
	testkit.Eventually(t, 15*time.Second, "the engine stops choosing n1", func() bool {
		n, err := choosesN1()
		return err == nil && n == 0
	})
	t.Logf("the director's engine stops choosing n1 %s after the kill", time.Since(killed).Round(time.Millisecond))
}
