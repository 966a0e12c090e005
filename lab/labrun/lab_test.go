package labrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/lab/netns"
)

// envBin names the meridian binary for TestLab; unset, TestLab skips (the
// whole lab takes about a minute: `make lab` runs it).
const envBin = "MERIDIAN_LAB_BIN"

// TestMain lets the test binary serve as the probe that the lab runs in
// its namespaces.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		if err := Probe(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLab runs the lab of ../topology.clab.yml and checks that every
// scenario passes or is skipped, and that nothing is left behind.
func TestLab(t *testing.T) {
	bin := os.Getenv(envBin)
	if bin == "" {
		t.Skip(envBin + " not set")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := os.Stat(frrDir + "/bgpd"); err != nil {
		t.Skipf("FRR not installed: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = Run(ctx, Config{Topology: "../topology.clab.yml", Bin: bin, Self: self, Runs: 2, Out: &out})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(list), "\n") {
		if strings.HasPrefix(l, netns.Prefix) {
			t.Errorf("namespace left behind: %s", l)
		}
	}
}
