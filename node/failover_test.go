package node

import (
	"context"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestAgentFailover runs an agent whose first director does not exist: it
// moves to the second, serves its snapshot, and its heartbeats reach it.
func TestAgentFailover(t *testing.T) {
	addr := testkit.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: addr}))
	dead := "http://" + testkit.FreeAddr(t)
	a := start(t, Config{Name: "n1", Directors: []string{dead, d.URL}, PSK: d.PSK})
	testkit.Eventually(t, 10*time.Second, "snapshot from the second director", func() bool { return a.Current() != nil })
	if st := a.Stats(); st.Director != d.URL || st.Failovers == 0 {
		t.Errorf("stats %+v", st)
	}
	testkit.Eventually(t, 10*time.Second, "health endpoint", func() bool { return a.HealthAddr() == addr })
	if in := info(t, addr); in.Director != d.URL || !in.DirectorReachable {
		t.Errorf("info %+v", in)
	}
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	testkit.Eventually(t, 10*time.Second, "heartbeat at the second director", func() bool {
		ns, err := adm.Nodes(context.Background())
		return err == nil && len(ns) == 1 && ns[0].Heartbeat != nil && ns[0].Heartbeat.Version > 0
	})
}
