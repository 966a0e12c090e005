package netns

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/meridian-traffic/meridian/lab/topo"
)

// TestBuildDestroy builds two namespaces joined by a link, checks that each
// routes the other's address over it and that Destroy leaves nothing behind.
func TestBuildDestroy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	top, err := topo.Parse([]byte(`name: t
topology:
  nodes:
    a: {exec: [ip addr add 192.0.2.1/30 dev eth1]}
    b: {exec: [ip addr add 192.0.2.2/30 dev eth1]}
  links:
    - endpoints: [a:eth1, b:eth1]
`))
	if err != nil {
		t.Fatal(err)
	}
	l := New()
	t.Cleanup(func() { _ = l.Destroy() })
	if err := l.Build(top); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "-n", l.NS("a"), "route", "get", "192.0.2.2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev eth1") {
		t.Fatalf("route get: %v\n%s", err, out)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), l.Run()) {
		t.Fatalf("namespaces of %s left after Destroy:\n%s", l.Run(), out)
	}
}

func TestBuildFailsOnBadExec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	top, err := topo.Parse([]byte("name: t\ntopology: {nodes: {a: {exec: [ip addr add 192.0.2.1/30 dev nosuch0]}}}"))
	if err != nil {
		t.Fatal(err)
	}
	l := New()
	t.Cleanup(func() { _ = l.Destroy() })
	if err := l.Build(top); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("Build = %v, want an error naming the device", err)
	}
}
