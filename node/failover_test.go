package node

import (
	"context"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/api/client/clienttest"
)

// TestAgentFailover runs an agent whose first director does not exist: it
// moves to the second, serves its snapshot, and its heartbeats reach it.
func TestAgentFailover(t *testing.T) {
	addr := clienttest.FreeAddr(t)
	d := clienttest.Start(t, clienttest.Site("lab", clienttest.Node{Name: "n1", Internal: addr}))
	dead := "http://" + clienttest.FreeAddr(t)
	a := start(t, Config{Name: "n1", Directors: []string{dead, d.URL}, PSK: d.PSK})
	clienttest.WaitFor(t, "snapshot from the second director", 10*time.Second, func() bool { return a.Current() != nil })
	if st := a.Stats(); st.Director != d.URL || st.Failovers == 0 {
		t.Errorf("stats %+v", st)
	}
	clienttest.WaitFor(t, "health endpoint", 10*time.Second, func() bool { return a.HealthAddr() == addr })
	if in := info(t, addr); in.Director != d.URL || !in.DirectorReachable {
		t.Errorf("info %+v", in)
	}
	adm := client.NewAdmin(d.URL, clienttest.Token, nil)
	clienttest.WaitFor(t, "heartbeat at the second director", 10*time.Second, func() bool {
		ns, err := adm.Nodes(context.Background())
		return err == nil && len(ns) == 1 && ns[0].Heartbeat != nil && ns[0].Heartbeat.Version > 0
	})
}
