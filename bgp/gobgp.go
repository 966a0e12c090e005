package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// router is the speaker's GoBGP server and the paths it originated.
type router struct {
	s    *server.BgpServer
	set  *settings
	uuid map[netip.Prefix][]byte // the last AddPath of each prefix
}

// startRouter starts GoBGP with the global settings and adds every
// neighbor. The caller must call stop.
func startRouter(ctx context.Context, set *settings, log *gobgpLogger) (*router, error) {
	s := server.NewBgpServer(server.LoggerOption(log))
	// GoBGP's Serve loop has no exit; after stop it stays parked.
	go s.Serve()
	g := &api.Global{
		Asn:        set.asn,
		RouterId:   set.routerID.String(),
		ListenPort: set.listenPort,
	}
	if set.listenPort > 0 && set.listenAddr.IsValid() {
		g.ListenAddresses = []string{set.listenAddr.String()}
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: g}); err != nil {
		return nil, fmt.Errorf("start bgp (asn %d, listen %s): %w", set.asn, listenString(set), err)
	}
	return &router{s: s, set: set, uuid: map[netip.Prefix][]byte{}}, nil
}

// addPeers adds every neighbor. The caller watches peer events first, so
// that no state change of a new session is missed.
func (r *router) addPeers(ctx context.Context) error {
	for _, n := range r.set.neighbors {
		if err := r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: r.peer(n)}); err != nil {
			return fmt.Errorf("add neighbor %s: %w", n, err)
		}
	}
	return nil
}

// adminWait bounds how long idleHold waits for GoBGP to take an admin
// state change.
const adminWait = time.Second

// idleHold makes a session that went down wait connect_retry before it is
// tried again. GoBGP waits its fixed 5 s (holdtimeIdle) after a session
// the neighbor reset, and Timers.Config.IdleHoldTimeAfterReset only after
// a reset made here (ResetPeer). So: ResetPeer on the idle session (its
// Cease is dropped with the idle state's queue; the session is down
// already) sets the idle hold to IdleHoldTimeAfterReset, which peer sets
// to connect_retry; a disable and enable restarts the running idle timer
// with it. Each step waits for GoBGP to take the one before: its admin
// channel holds one request.
func (r *router) idleHold(ctx context.Context, addr netip.Addr) error {
	a := addr.String()
	if err := r.s.ResetPeer(ctx, &api.ResetPeerRequest{Address: a}); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := r.s.DisablePeer(ctx, &api.DisablePeerRequest{Address: a}); err != nil {
		return fmt.Errorf("disable: %w", err)
	}
	if !r.awaitAdmin(ctx, addr, api.PeerState_DOWN) {
		// Leave it enabled whatever happened.
		_ = r.s.EnablePeer(ctx, &api.EnablePeerRequest{Address: a})
		return fmt.Errorf("disable not taken within %s", adminWait)
	}
	for range 3 {
		if err := r.s.EnablePeer(ctx, &api.EnablePeerRequest{Address: a}); err != nil {
			return fmt.Errorf("enable: %w", err)
		}
		if r.awaitAdmin(ctx, addr, api.PeerState_UP) {
			return nil
		}
	}
	return fmt.Errorf("enable not taken within %s", 3*adminWait)
}

// awaitAdmin polls until the neighbor's admin state is want, within
// adminWait.
func (r *router) awaitAdmin(ctx context.Context, addr netip.Addr, want api.PeerState_AdminState) bool {
	deadline := time.Now().Add(adminWait)
	for {
		got := api.PeerState_AdminState(-1)
		_ = r.s.ListPeer(ctx, &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) {
			got = p.GetState().GetAdminState()
		})
		if got == want {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func listenString(set *settings) string {
	if set.listenPort < 0 {
		return "off"
	}
	return fmt.Sprintf("%s port %d", addrString(set.listenAddr), set.listenPort)
}

func (r *router) stop() {
	// StopBgp sends every neighbor a Cease notification and closes the
	// listeners.
	_ = r.s.StopBgp(context.Background(), &api.StopBgpRequest{})
}

func (r *router) peer(n neighbor) *api.Peer {
	secs := func(d time.Duration) uint64 { return uint64((d + time.Second - 1) / time.Second) }
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.addr.String(),
			PeerAsn:         n.asn,
			AuthPassword:    n.password,
		},
		Transport: &api.Transport{
			RemotePort:  uint32(n.port),
			PassiveMode: n.passive,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:               secs(n.hold),
			KeepaliveInterval:      secs(n.keepalive),
			ConnectRetry:           secs(r.set.connectRetry),
			IdleHoldTimeAfterReset: secs(r.set.connectRetry),
		}},
		// One family per session, the neighbor's own: next-hop self must be
		// an address of the prefix's family.
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: family(n.addr), Enabled: true}}},
	}
	if a := r.set.listenAddr; a.IsValid() && a.Is4() == n.addr.Is4() {
		// Sessions leave from the address the speaker listens on.
		p.Transport.LocalAddress = a.String()
	}
	if n.multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.multihop)}
	}
	return p
}

func family(a netip.Addr) *api.Family {
	if a.Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

// announce adds (or replaces) every prefix's path; gshut adds the
// GRACEFUL_SHUTDOWN community.
func (r *router) announce(ctx context.Context, gshut bool) error {
	for _, p := range r.set.prefixes {
		path, err := r.path(p, gshut)
		if err != nil {
			return err
		}
		res, err := r.s.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		if err != nil {
			return fmt.Errorf("announce %s: %w", p, err)
		}
		r.uuid[p] = res.Uuid
	}
	return nil
}

// withdraw deletes every path announce added.
func (r *router) withdraw(ctx context.Context) error {
	var first error
	for _, p := range r.set.prefixes {
		id, ok := r.uuid[p]
		if !ok {
			continue
		}
		if err := r.s.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Uuid: id}); err != nil && first == nil {
			first = fmt.Errorf("withdraw %s: %w", p, err)
			continue
		}
		delete(r.uuid, p)
	}
	return first
}

// path builds the announcement of p: origin IGP, next hop unspecified
// (GoBGP puts the session's local address there: next-hop self), the
// site's communities, and for a secondary node its prepends and MED.
func (r *router) path(p netip.Prefix, gshut bool) (*api.Path, error) {
	set := r.set
	var nlri bgp.AddrPrefixInterface
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if p.Addr().Is4() {
		nlri = bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop("0.0.0.0"))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("::", []bgp.AddrPrefixInterface{nlri}))
	}
	if set.secondary && set.prepend > 0 {
		// GoBGP adds the ASN once more towards eBGP neighbors.
		as := make([]uint32, set.prepend)
		for i := range as {
			as[i] = set.asn
		}
		attrs = append(attrs, bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as),
		}))
	}
	if set.secondary && set.med > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(set.med))
	}
	comms := append([]uint32(nil), set.communities...)
	if gshut {
		comms = append(comms, communityGracefulShutdown)
	}
	if len(comms) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
	}
	if len(set.large) > 0 {
		var lcs []*bgp.LargeCommunity
		for _, s := range set.large {
			lc, err := bgp.ParseLargeCommunity(s)
			if err != nil {
				return nil, fmt.Errorf("%w: large community %q: %w", ErrOption, s, err)
			}
			lcs = append(lcs, lc)
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(lcs))
	}
	return apiutil.NewPath(nlri, false, attrs, time.Now())
}

// peerInfo is what GoBGP reports of one session.
type peerInfo struct {
	raw        api.PeerState_SessionState
	state      string
	uptime     time.Time // zero unless established
	advertised uint64    // prefixes sent on the session
	rxNotes    uint64    // NOTIFICATIONs received, all sessions so far
	txUpdates  uint64    // UPDATEs written to the session's socket
}

func (r *router) peers(ctx context.Context) (map[netip.Addr]peerInfo, error) {
	out := map[netip.Addr]peerInfo{}
	err := r.s.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		pi := peerInfo{
			raw:       p.GetState().GetSessionState(),
			state:     sessionState(p.GetState().GetSessionState()),
			rxNotes:   p.GetState().GetMessages().GetReceived().GetNotification(),
			txUpdates: p.GetState().GetMessages().GetSent().GetUpdate(),
		}
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			if up := p.GetTimers().GetState().GetUptime(); up != nil {
				pi.uptime = up.AsTime()
			}
		}
		for _, af := range p.GetAfiSafis() {
			pi.advertised += af.GetState().GetAdvertised()
		}
		out[a.Unmap()] = pi
	})
	return out, err
}

// sessionState names a session state as operators read it.
func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_IDLE:
		return "idle"
	case api.PeerState_CONNECT:
		return "connect"
	case api.PeerState_ACTIVE:
		return "active"
	case api.PeerState_OPENSENT:
		return "opensent"
	case api.PeerState_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// peerEvent is a session state change GoBGP reported.
type peerEvent struct {
	addr  netip.Addr
	state api.PeerState_SessionState
	at    time.Time
}

// watchPeers forwards session state changes to out until ctx ends.
func (r *router) watchPeers(ctx context.Context, out chan<- peerEvent) error {
	return r.s.WatchEvent(ctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(ev *api.WatchEventResponse) {
		pe := ev.GetPeer()
		if pe == nil || pe.GetType() != api.WatchEventResponse_PeerEvent_STATE {
			return
		}
		a, err := netip.ParseAddr(pe.GetPeer().GetState().GetNeighborAddress())
		if err != nil {
			return
		}
		select {
		case out <- peerEvent{addr: a.Unmap(), state: pe.GetPeer().GetState().GetSessionState(), at: time.Now()}:
		case <-ctx.Done():
		}
	})
}
