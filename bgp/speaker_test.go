package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gapi "github.com/osrg/gobgp/v3/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

const sessionWait = 15 * time.Second // GoBGP's first connect waits 1-2s

// TestAnnounce checks what the upstream router receives: the prefix, next
// hop self, the site's communities, and for a secondary node its prepends
// and MED.
func TestAnnounce(t *testing.T) {
	tests := []struct {
		name      string
		neighbor  string
		prefix    string
		secondary bool
		wantNH    string
		wantPath  []uint32
		wantMED   uint32 // 0: no MED attribute
	}{
		{"primary ipv4", "127.0.0.1", "198.51.100.0/24", false, "127.0.0.1", []uint32{speakerASN}, 0},
		{"secondary ipv4", "127.0.0.1", "198.51.100.0/24", true, "127.0.0.1", []uint32{speakerASN, speakerASN, speakerASN}, 50},
		{"primary ipv6", "::1", "2001:db8:a::/48", false, "::1", []uint32{speakerASN}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, nil, peerOpt{addr: tt.neighbor})
			h := newHealthTarget(t)
			cfg := speakerConfig(u, h.addr, tt.prefix)
			cfg.BGP.Neighbors[0].Address = netip.MustParseAddr(tt.neighbor)
			cfg.BGP.Communities = []string{"65101:100"}
			cfg.BGP.LargeCommunities = []string{"65101:1:2"}
			cfg.BGP.Prepend, cfg.BGP.MED = 2, 50
			cfg.Secondary = tt.secondary
			sp, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			run(t, sp)
			p := netip.MustParsePrefix(tt.prefix)
			got := u.waitFor(p, sessionWait, "announce", announced)
			last := got[len(got)-1]
			if last.nexthop != netip.MustParseAddr(tt.wantNH) {
				t.Errorf("next hop %s, want %s (self)", last.nexthop, tt.wantNH)
			}
			if !last.hasCommunity(65101<<16|100) || last.hasCommunity(communityGracefulShutdown) {
				t.Errorf("communities %v, want 65101:100 and no 65535:0", last.comms)
			}
			if !slices.Equal(last.large, []string{"65101:1:2"}) {
				t.Errorf("large communities %v, want [65101:1:2]", last.large)
			}
			if !slices.Equal(last.asPath, tt.wantPath) {
				t.Errorf("as path %v, want %v", last.asPath, tt.wantPath)
			}
			if tt.wantMED == 0 && last.hasMED || tt.wantMED != 0 && (!last.hasMED || last.med != tt.wantMED) {
				t.Errorf("med %d (present %v), want %d", last.med, last.hasMED, tt.wantMED)
			}
		})
	}
}

// TestSetSecondary: turning a running primary into a secondary replaces
// its announcement with the prepended, MED-carrying one, and back.
func TestSetSecondary(t *testing.T) {
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
	cfg.BGP.Prepend, cfg.BGP.MED = 1, 70
	sp, _ := startSpeaker(t, cfg)
	p := netip.MustParsePrefix("198.51.100.0/24")
	u.waitFor(p, sessionWait, "announce", announced)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, secondary := range []bool{true, false} {
		if err := sp.SetSecondary(ctx, secondary); err != nil {
			t.Fatal(err)
		}
		u.waitFor(p, 5*time.Second, fmt.Sprintf("secondary=%v attributes", secondary), func(h []update) bool {
			last := h[len(h)-1]
			return !last.withdraw && last.hasMED == secondary && len(last.asPath) == map[bool]int{false: 1, true: 2}[secondary]
		})
	}
	if got := u.history(p); slices.ContainsFunc(got, func(x update) bool { return x.withdraw }) {
		t.Errorf("changing secondary withdrew the route: %s", describe(got))
	}
}

// TestHealthFallAndRise closes the node's health endpoint: the router must
// lose the route within one check interval (fall 1), and get it back only
// once the reopened endpoint has answered rise checks.
func TestHealthFallAndRise(t *testing.T) {
	const interval, rise = 200 * time.Millisecond, 3
	h := newHealthTarget(t)
	u := newUpstream(t, h.hits)
	cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
	cfg.BGP.Check.Interval = cluster.Duration(interval)
	cfg.BGP.Check.Rise, cfg.BGP.Check.Fall = rise, 1
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	startSpeaker(t, cfg)
	p := netip.MustParsePrefix("198.51.100.0/24")
	u.waitFor(p, sessionWait, "announce", announced)

	closed := time.Now()
	h.close()
	got := u.waitFor(p, 5*time.Second, "withdraw", withdrawn)
	// One interval until the next check sees the closed port, plus the
	// update's trip over loopback.
	if d := got[len(got)-1].at.Sub(closed); d > interval+100*time.Millisecond {
		t.Errorf("route left %s after the health target closed, want within one interval (%s)", d, interval)
	}
	if v := testkit.Metric(t, reg, "meridian_bgp_withdraws_total", "reason", kindHealth); v != 1 {
		t.Errorf("meridian_bgp_withdraws_total{reason=health} = %v, want 1", v)
	}

	before := h.hits.Load()
	h.reopen()
	got = u.waitFor(p, 5*time.Second, "re-announce", announced)
	if n := got[len(got)-1].note - before; n < rise {
		t.Errorf("re-announced after %d successful checks, want at least rise=%d", n, rise)
	}
	if v := testkit.Metric(t, reg, "meridian_bgp_announced_prefixes"); v != 1 {
		t.Errorf("meridian_bgp_announced_prefixes = %v, want 1", v)
	}
}

// TestMinAnnounceInterval: a node that recovers at once still waits the
// minimum interval after a withdraw.
func TestMinAnnounceInterval(t *testing.T) {
	const minInterval = 1500 * time.Millisecond
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
	cfg.BGP.MinAnnounceInterval = cluster.Duration(minInterval)
	startSpeaker(t, cfg)
	p := netip.MustParsePrefix("198.51.100.0/24")
	u.waitFor(p, sessionWait, "announce", announced)
	h.close()
	got := u.waitFor(p, 5*time.Second, "withdraw", withdrawn)
	gone := got[len(got)-1].at
	h.reopen()
	got = u.waitFor(p, 5*time.Second, "re-announce", announced)
	// The withdraw left the speaker a little before the router saw it.
	if d := got[len(got)-1].at.Sub(gone); d < minInterval-50*time.Millisecond {
		t.Errorf("re-announced %s after the withdraw, want no sooner than %s", d, minInterval)
	}
}

// TestDrain: draining re-advertises with GRACEFUL_SHUTDOWN before it
// withdraws; undraining announces again without it.
func TestDrain(t *testing.T) {
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
	cfg.BGP.GracefulShutdown = 0
	sp, _ := startSpeaker(t, cfg)
	p := netip.MustParsePrefix("198.51.100.0/24")
	before := len(u.waitFor(p, sessionWait, "announce", announced))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sp.SetAccepting(ctx, false); err != nil {
		t.Fatal(err)
	}
	got := u.waitFor(p, 5*time.Second, "withdraw", withdrawn)[before:]
	if len(got) != 2 || !got[0].hasCommunity(communityGracefulShutdown) || got[0].withdraw {
		t.Fatalf("drain: router saw %s, want an update with 65535:0 then a withdraw", describe(got))
	}
	st, err := sp.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseWithdrawn || !strings.Contains(st.Reason, "drain") || st.Accepting {
		t.Errorf("status after drain: %+v", st)
	}
	if err := sp.SetAccepting(ctx, true); err != nil {
		t.Fatal(err)
	}
	got = u.waitFor(p, 5*time.Second, "re-announce", announced)
	if last := got[len(got)-1]; last.hasCommunity(communityGracefulShutdown) {
		t.Errorf("undrained announce still carries 65535:0: %v", last.comms)
	}
}

// TestOperatorWithdraw: Withdraw holds the route down whatever the health,
// Status says why, Resume brings it back.
func TestOperatorWithdraw(t *testing.T) {
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	sp, _ := startSpeaker(t, speakerConfig(u, h.addr, "198.51.100.0/24"))
	p := netip.MustParsePrefix("198.51.100.0/24")
	u.waitFor(p, sessionWait, "announce", announced)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	st, err := sp.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseAnnounced || len(st.Announcing) != 1 || len(st.Neighbors) != 1 {
		t.Fatalf("status: %+v", st)
	}
	n := st.Neighbors[0]
	if n.State != "established" || n.Uptime <= 0 || n.Advertised != 1 || n.Address != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("neighbor status: %+v", n)
	}
	if peers := st.Peers(); len(peers) != 1 || peers[0].State != "established" || peers[0].Neighbor != "127.0.0.1" {
		t.Errorf("heartbeat peers: %+v", peers)
	}

	if err := sp.Withdraw(ctx, "maintenance window"); err != nil {
		t.Fatal(err)
	}
	u.waitFor(p, 5*time.Second, "withdraw", withdrawn)
	st, _ = sp.Status(ctx)
	if st.Held != "maintenance window" || !strings.Contains(st.Reason, "maintenance window") || len(st.Announcing) != 0 {
		t.Errorf("status after withdraw: %+v", st)
	}
	if err := sp.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	u.waitFor(p, 5*time.Second, "re-announce", announced)
}

// TestShutdown: cancelling Run's context withdraws gracefully and Run
// returns nil; later requests fail with ErrStopped.
func TestShutdown(t *testing.T) {
	h := newHealthTarget(t)
	u := newUpstream(t, nil)
	sp, stop := startSpeaker(t, speakerConfig(u, h.addr, "198.51.100.0/24"))
	p := netip.MustParsePrefix("198.51.100.0/24")
	before := len(u.waitFor(p, sessionWait, "announce", announced))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := u.waitFor(p, 5*time.Second, "withdraw", withdrawn)[before:]
	if len(got) == 0 || !got[0].hasCommunity(communityGracefulShutdown) {
		t.Errorf("shutdown: router saw %s, want 65535:0 before the withdraw", describe(got))
	}
	if _, err := sp.Status(context.Background()); err != ErrStopped {
		t.Errorf("Status after Run: %v, want ErrStopped", err)
	}
	if err := sp.Run(context.Background()); err != ErrRunning {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
}

// TestNotification: when a session fails on a NOTIFICATION, the log and
// the neighbor's status say which one and why.
func TestNotification(t *testing.T) {
	tests := []struct {
		name       string
		routerASN  uint32 // the ASN the router expects of the speaker
		speakerASN uint32 // the ASN the speaker expects of the router
		shutdown   string // the router shuts the established session down with this message
		wantReason []string
		wantLog    []string
	}{
		{"speaker refuses a wrong router ASN", speakerASN, 65999, "",
			[]string{"notification sent", "code 2", "subcode 2"},
			[]string{"bgp notification sent", "code=2 subcode=2"}},
		{"router refuses the speaker's ASN", 65999, routerASN, "",
			[]string{"neighbor refused the session", "during OPEN"},
			[]string{"bgp notification received", "neighbor=127.0.0.1"}},
		{"router shuts the session down", speakerASN, routerASN, "maintenance",
			[]string{"notification received", "code 6", "subcode 2", `"maintenance"`},
			[]string{"bgp notification received", "code=6 subcode=2", "message=maintenance"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHealthTarget(t)
			u := newUpstream(t, nil, peerOpt{asn: tt.routerASN})
			var logs testkit.Buffer
			cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
			cfg.BGP.Neighbors[0].ASN = tt.speakerASN
			cfg.Logger = logs.Logger()
			sp, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			run(t, sp)
			if tt.shutdown != "" {
				u.waitFor(netip.MustParsePrefix("198.51.100.0/24"), sessionWait, "announce", announced)
				if err := u.s.ShutdownPeer(context.Background(), &gapi.ShutdownPeerRequest{Address: "127.0.0.1", Communication: tt.shutdown}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
			defer cancel()
			for {
				st, err := sp.Status(ctx)
				if err != nil {
					t.Fatalf("reason never showed %q; log:\n%s", tt.wantReason, logs.String())
				}
				if r := st.Neighbors[0].Reason; containsAll(r, tt.wantReason) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if l := logs.String(); !containsAll(l, tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, l)
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestPassword: the TCP MD5 password comes from the neighbor's file and the
// session comes up with a router that requires it.
func TestPassword(t *testing.T) {
	const secret = "s3cret-md5-key"
	h := newHealthTarget(t)
	u := newUpstream(t, nil, peerOpt{password: secret})
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := speakerConfig(u, h.addr, "198.51.100.0/24")
	cfg.BGP.Neighbors[0].PasswordFile = file
	startSpeaker(t, cfg)
	u.waitFor(netip.MustParsePrefix("198.51.100.0/24"), sessionWait, "announce over an MD5 session", announced)
}
