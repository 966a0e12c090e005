package bgp

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	dirapi "github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// newPartRig starts an upstream router, a health target and a Part, and
// returns the Part, the router and a node of the site with one community.
func newPartRig(t *testing.T) (*Part, *upstream, func(comm string) *cluster.Node) {
	t.Helper()
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	base := speakerConfig(u, h.addr, "198.51.100.0/24")
	part, err := NewPart(Config{ConnectRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(part.Close)
	node := func(comm string) *cluster.Node {
		b := base.BGP
		b.Communities = []string{comm}
		return &cluster.Node{Name: "a", Accepting: true, Anycast: base.Anycast, BGP: &b}
	}
	return part, u, node
}

// TestPart drives the speaker the way the node agent does: snapshot after
// snapshot, with a heartbeat between them.
func TestPart(t *testing.T) {
	part, u, node := newPartRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := netip.MustParsePrefix("198.51.100.0/24")
	snap := func(drained bool) *cluster.Snapshot {
		return &cluster.Snapshot{Nodes: []cluster.NodeState{{Name: "a", Drained: drained}}}
	}

	part.Apply(ctx, snap(false), node("65101:1"))
	u.waitFor(p, sessionWait, "announce", announced)
	var hb dirapi.Heartbeat
	testkit.Poll(5*time.Second, func() bool { part.Heartbeat(&hb); return len(hb.Announcing) > 0 })
	if !slices.Equal(hb.Announcing, []netip.Prefix{p}) || len(hb.BGP) != 1 || hb.BGP[0].State != "established" {
		t.Fatalf("heartbeat: announcing %v, bgp %+v", hb.Announcing, hb.BGP)
	}
	first := part.Speaker()

	part.Apply(ctx, snap(true), node("65101:1")) // ctl drain
	got := u.waitFor(p, 5*time.Second, "drain withdraw", withdrawn)
	if len(got) < 2 || !got[len(got)-2].hasCommunity(communityGracefulShutdown) {
		t.Errorf("drain: %s, want 65535:0 before the withdraw", describe(got))
	}
	if part.Speaker() != first {
		t.Error("drain restarted the speaker")
	}

	part.Apply(ctx, snap(false), node("65101:2")) // new community: restart
	u.waitFor(p, sessionWait, "announce with the new community", func(h []update) bool {
		return announced(h) && h[len(h)-1].hasCommunity(65101<<16|2)
	})
	if part.Speaker() == first {
		t.Error("a changed bgp block did not restart the speaker")
	}

	bad := node("65101:2")
	bad.BGP.Neighbors = append([]cluster.BGPNeighbor(nil), bad.BGP.Neighbors...)
	bad.BGP.Neighbors[0].PasswordFile = "/nonexistent/meridian-pw"
	running := part.Speaker()
	part.Apply(ctx, snap(false), bad)
	if part.Speaker() != running {
		t.Error("a refused config replaced the running speaker")
	}

	part.Apply(ctx, nil, nil) // node removed
	u.waitFor(p, 5*time.Second, "withdraw on removal", withdrawn)
	if part.Speaker() != nil {
		t.Error("speaker still running after the node left")
	}
}

// TestPartOperatorWithdraw: NodeState.Withdrawn withdraws gracefully, holds
// across a restart for a config change (the new speaker never announces),
// and clearing it announces again.
func TestPartOperatorWithdraw(t *testing.T) {
	part, u, node := newPartRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := netip.MustParsePrefix("198.51.100.0/24")
	snap := func(withdrawn string) *cluster.Snapshot {
		return &cluster.Snapshot{Nodes: []cluster.NodeState{{Name: "a", Withdrawn: withdrawn}}}
	}
	status := func() Status {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		st, err := part.Speaker().Status(sctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	part.Apply(ctx, snap(""), node("65101:1"))
	u.waitFor(p, sessionWait, "announce", announced)

	part.Apply(ctx, snap("maintenance window"), node("65101:1")) // ctl bgp withdraw
	got := u.waitFor(p, 5*time.Second, "operator withdraw", withdrawn)
	if len(got) < 2 || !got[len(got)-2].hasCommunity(communityGracefulShutdown) {
		t.Errorf("withdraw: %s, want 65535:0 before the withdraw", describe(got))
	}
	if st := status(); st.Held != "maintenance window" || !strings.Contains(st.Reason, "maintenance window") {
		t.Errorf("status after withdraw: held %q, reason %q", st.Held, st.Reason)
	}
	var hb dirapi.Heartbeat
	part.Heartbeat(&hb)
	if s := hb.BGPSpeaker; s == nil || s.Phase != string(PhaseWithdrawn) || s.Held != "maintenance window" || len(hb.Announcing) != 0 {
		t.Errorf("heartbeat after withdraw: speaker %+v, announcing %v", s, hb.Announcing)
	}

	first := part.Speaker()
	part.Apply(ctx, snap("maintenance window"), node("65101:2")) // config change: restart
	if part.Speaker() == first {
		t.Fatal("a changed bgp block did not restart the speaker")
	}
	// The new speaker is up, healthy and in session, yet holds the withdraw.
	var st Status
	if !testkit.Poll(sessionWait, func() bool {
		st = status()
		return st.Healthy && len(st.Neighbors) == 1 && st.Neighbors[0].State == "established"
	}) {
		t.Fatalf("restarted speaker never established its session: %+v", st)
	}
	if st.Held != "maintenance window" || st.Phase != PhaseWithdrawn {
		t.Fatalf("restarted speaker: held %q, phase %s", st.Held, st.Phase)
	}
	time.Sleep(300 * time.Millisecond) // three check intervals: time to announce, were it to
	if h := u.history(p); !withdrawn(h) {
		t.Fatalf("restarted speaker announced while withdrawn: %s", describe(h))
	}

	part.Apply(ctx, snap(""), node("65101:2")) // ctl bgp resume
	u.waitFor(p, 5*time.Second, "announce after resume", func(h []update) bool {
		return announced(h) && h[len(h)-1].hasCommunity(65101<<16|2)
	})
	if st := status(); st.Held != "" || st.Phase != PhaseAnnounced {
		t.Errorf("status after resume: held %q, phase %s", st.Held, st.Phase)
	}
}
