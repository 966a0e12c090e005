//go:debug multipathtcp=0

// Go listens with Multipath TCP by default where the kernel has it, and an
// MPTCP listener refuses TCP_MD5SIG and the TTL options GoBGP sets on it.
// Any binary that embeds a listening speaker needs the same directive.

package bgp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// Test ASNs and addresses: private ASNs, loopback only.
const (
	routerASN  = 65000
	speakerASN = 65101
)

// upstream is a real GoBGP server playing the node's upstream router. It
// records every update it receives, in order.
type upstream struct {
	t    *testing.T
	s    *server.BgpServer
	port int

	mu      sync.Mutex
	updates []update
}

// update is one received announcement or withdraw of one prefix.
type update struct {
	at       time.Time
	prefix   netip.Prefix
	withdraw bool
	nexthop  netip.Addr
	comms    []uint32
	large    []string
	asPath   []uint32
	med      uint32
	hasMED   bool
	note     int64 // the test's counter when the update arrived
}

func (u update) hasCommunity(c uint32) bool { return slices.Contains(u.comms, c) }

type peerOpt struct {
	addr     string // default 127.0.0.1
	asn      uint32 // the ASN the router expects; default speakerASN
	password string
}

// newUpstream starts a router listening on a free loopback port with one
// passive neighbor per opt. note, when set, is read at each update.
func newUpstream(t *testing.T, note *atomic.Int64, peers ...peerOpt) *upstream {
	t.Helper()
	u := &upstream{t: t, s: server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: slog.New(slog.DiscardHandler)})), port: testkit.FreePort(t)}
	go u.s.Serve()
	ctx := context.Background()
	if err := u.s.StartBgp(ctx, &gapi.StartBgpRequest{Global: &gapi.Global{
		Asn: routerASN, RouterId: "10.255.0.1", ListenPort: int32(u.port),
		ListenAddresses: []string{"127.0.0.1", "::1"},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = u.s.StopBgp(context.Background(), &gapi.StopBgpRequest{}) })
	if len(peers) == 0 {
		peers = []peerOpt{{}}
	}
	for _, p := range peers {
		if p.addr == "" {
			p.addr = "127.0.0.1"
		}
		if p.asn == 0 {
			p.asn = speakerASN
		}
		a := netip.MustParseAddr(p.addr)
		if err := u.s.AddPeer(ctx, &gapi.AddPeerRequest{Peer: &gapi.Peer{
			Conf:      &gapi.PeerConf{NeighborAddress: p.addr, PeerAsn: p.asn, AuthPassword: p.password},
			Transport: &gapi.Transport{PassiveMode: true},
			AfiSafis:  []*gapi.AfiSafi{{Config: &gapi.AfiSafiConfig{Family: family(a), Enabled: true}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	err := u.s.WatchEvent(wctx, &gapi.WatchEventRequest{Table: &gapi.WatchEventRequest_Table{
		Filters: []*gapi.WatchEventRequest_Table_Filter{{Type: gapi.WatchEventRequest_Table_Filter_ADJIN, Init: true}},
	}}, func(ev *gapi.WatchEventResponse) {
		var n int64
		if note != nil {
			n = note.Load()
		}
		for _, p := range ev.GetTable().GetPaths() {
			if up, ok := decode(p); ok {
				up.note = n
				u.mu.Lock()
				u.updates = append(u.updates, up)
				u.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func decode(p *gapi.Path) (update, bool) {
	if p.GetNlri() == nil { // end-of-RIB marker
		return update{}, false
	}
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return update{}, false
	}
	pfx, err := netip.ParsePrefix(nlri.String())
	if err != nil {
		return update{}, false
	}
	u := update{at: time.Now(), prefix: pfx, withdraw: p.GetIsWithdraw()}
	attrs, _ := apiutil.GetNativePathAttributes(p)
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			u.nexthop, _ = netip.AddrFromSlice(a.Value)
		case *bgp.PathAttributeMpReachNLRI:
			u.nexthop, _ = netip.AddrFromSlice(a.Nexthop)
		case *bgp.PathAttributeCommunities:
			u.comms = a.Value
		case *bgp.PathAttributeLargeCommunities:
			for _, lc := range a.Values {
				u.large = append(u.large, lc.String())
			}
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				u.asPath = append(u.asPath, seg.GetAS()...)
			}
		case *bgp.PathAttributeMultiExitDisc:
			u.med, u.hasMED = a.Value, true
		}
	}
	u.nexthop = u.nexthop.Unmap()
	return u, true
}

// history returns the updates for prefix so far.
func (u *upstream) history(p netip.Prefix) []update {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []update
	for _, x := range u.updates {
		if x.prefix == p {
			out = append(out, x)
		}
	}
	return out
}

// waitFor polls the history of p until cond holds for it, and returns it.
func (u *upstream) waitFor(p netip.Prefix, within time.Duration, what string, cond func([]update) bool) []update {
	u.t.Helper()
	var h []update
	if !testkit.Poll(within, func() bool { h = u.history(p); return cond(h) }) {
		u.t.Fatalf("router: %s for %s not seen within %s; history: %s", what, p, within, describe(h))
	}
	return h
}

// announced and withdrawn are waitFor conditions on the latest update.
func announced(h []update) bool { return len(h) > 0 && !h[len(h)-1].withdraw }
func withdrawn(h []update) bool { return len(h) > 0 && h[len(h)-1].withdraw }

func describe(h []update) string {
	var b bytes.Buffer
	for _, x := range h {
		if x.withdraw {
			fmt.Fprintf(&b, "[withdraw] ")
		} else {
			fmt.Fprintf(&b, "[nh %s comms %v] ", x.nexthop, x.comms)
		}
	}
	return b.String()
}

// healthTarget is an HTTP health endpoint the test can close and reopen on
// the same address. Every request bumps hits.
type healthTarget struct {
	t    *testing.T
	addr string
	hits *atomic.Int64
	srv  *http.Server
}

func newHealthTarget(t *testing.T) *healthTarget {
	h := &healthTarget{t: t, hits: new(atomic.Int64)}
	h.open("127.0.0.1:0")
	t.Cleanup(h.close)
	return h
}

func (h *healthTarget) open(addr string) {
	h.t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = l.Addr().String()
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = h.srv.Serve(l) }()
}

func (h *healthTarget) reopen() { h.open(h.addr) }

func (h *healthTarget) close() {
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

// speakerConfig is a node peering with u over 127.0.0.1, checking health.
func speakerConfig(u *upstream, health string, prefixes ...string) Config {
	var ps []netip.Prefix
	for _, p := range prefixes {
		ps = append(ps, netip.MustParsePrefix(p))
	}
	b := cluster.DefaultBGP()
	b.ASN, b.RouterID = speakerASN, netip.MustParseAddr("10.255.0.2")
	nb := cluster.DefaultBGPNeighbor()
	nb.Address, nb.Port, nb.ASN = netip.MustParseAddr("127.0.0.1"), u.port, routerASN
	nb.Hold, nb.Keepalive = cluster.Duration(9*time.Second), cluster.Duration(3*time.Second)
	b.Neighbors = []cluster.BGPNeighbor{nb}
	b.Check.Target = health
	b.Check.Interval, b.Check.Timeout = cluster.Duration(100*time.Millisecond), cluster.Duration(100*time.Millisecond)
	b.Check.Rise, b.Check.Fall = 1, 1
	b.GracefulShutdown, b.MinAnnounceInterval = 0, 0 // no waits unless a test sets them
	return Config{BGP: b, Anycast: ps, ConnectRetry: time.Second}
}

// run starts sp and stops it at the end of the test; the returned func
// cancels it and returns Run's error.
func run(t *testing.T, sp *Speaker) (stop func() error) {
	t.Helper()
	return testkit.Go(t, "speaker", 10*time.Second, sp.Run).Stop
}

// startSpeaker makes a speaker of cfg and runs it (see run).
func startSpeaker(t *testing.T, cfg Config) (sp *Speaker, stop func() error) {
	t.Helper()
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sp, run(t, sp)
}

func itoa(i int) string { return strconv.Itoa(i) }
