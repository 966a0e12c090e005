package meridian

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// TestFailoverTime measures the time from a node's health target closing
// to the plugin answering without the node: director probes (250 ms, fall
// 3), snapshot publication, sync long-poll, engine rebuild, answer. It is
// a measurement, not a unit test: it runs only with MERIDIAN_FAILOVER=1.
//
//	MERIDIAN_FAILOVER=1 go test -run TestFailoverTime -v ./plugin/meridian/
func TestFailoverTime(t *testing.T) {
	if os.Getenv("MERIDIAN_FAILOVER") == "" {
		t.Skip("set MERIDIAN_FAILOVER=1 to measure failover")
	}
	const (
		runs     = 10
		interval = 250 * time.Millisecond
		fall     = 3
		budget   = interval*fall + 200*time.Millisecond
		client   = "10.1.2.0/24" // us1's prefix: answered us1 while it is up
		us1      = "192.0.2.11"
	)
	l := newLab(t, cluster.MethodGeo)
	s := startServer(t, l.corefile(filepath.Join(l.dir, "cache"), "")) // explain is on
	var took []time.Duration
	for i := range runs {
		// Every primary up (not a first snapshot of unknown states, which
		// fails open and answers us1 by its prefix whatever its health).
		eventually(t, 10*time.Second, func() string {
			if x := explainText(t, s, client); !strings.Contains(x, "pool: 3 up and accepting") {
				return "explain: " + x
			}
			return ""
		})
		expectAddrs(t, s, traffic, dns.TypeA, client, us1)
		time.Sleep(time.Duration(i) * interval / runs) // spread the close over the probe phase
		start := time.Now()
		l.targets["us1"].close()
		for {
			if got := answerAddrs(s.ask(t, traffic, dns.TypeA, client)); got != us1 && got != "" {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatal("us1 still answered 10s after its target closed")
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		l.targets["us1"].open(t)
	}
	slices.Sort(took)
	median := (took[runs/2-1] + took[runs/2]) / 2
	max := took[runs-1]
	msg := fmt.Sprintf("failover over %d runs (interval %s, fall %d): median %s, max %s, budget %s; all %v",
		runs, interval, fall, median.Round(time.Millisecond), max.Round(time.Millisecond), budget, took)
	t.Log(msg)
	fmt.Println(msg)
	if max > budget {
		t.Errorf("max %s exceeds interval*fall + 200ms = %s", max, budget)
	}
}
