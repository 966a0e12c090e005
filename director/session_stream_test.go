package director

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
	"github.com/meridian-traffic/meridian/relay"
)

// TestSessionStreams runs the appliance's session flow through two real
// relays: the customer (127.0.0.41) is sent to node a, the representative
// (127.0.0.42) to node b by their prefixes. Both stream through a in both
// directions, the customer shows its screen through b, the relays'
// accounting and connected clients match what was sent, a reconnect keeps
// the node and a node that dies moves the next request.
func TestSessionStreams(t *testing.T) {
	const (
		ipA, ipB  = "127.0.0.31", "127.0.0.32"
		cust, rep = "127.0.0.41", "127.0.0.42"
		n, size   = 400, 1000
		sent      = uint64(n * size)
	)
	h := startDirector(t, Config{SiteData: []byte(twoNodeSite(ipA, cust, ipB, rep)), ClientTokens: []string{testClientToken}})
	ra, stopA := startSessionRelay(t, ipA, h.psk)
	rb, _ := startSessionRelay(t, ipB, h.psk)
	testkit.Eventually(t, 15*time.Second, "both relays up", func() bool {
		return h.health("a") == cluster.Up && h.health("b") == cluster.Up
	})
	ctx := context.Background()
	cs, rs := h.sessionsFrom(cust), h.sessionsFrom(rep)

	cg, err := cs.Create(ctx, api.SessionRequest{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	wantRelay(t, "customer home", cg.Home, "a", "a.z.example", ipA, cg.ID+"/customer")
	if cg.Party != api.PartyCustomer || cg.View != nil || cg.TTL.D() != DefaultSessionTTL {
		t.Errorf("customer grant: party %q, view %v, ttl %s", cg.Party, cg.View, cg.TTL.D())
	}
	if d := time.Until(cg.Expires); d < DefaultSessionMaxAge-time.Minute || d > DefaultSessionMaxAge {
		t.Errorf("session expires in %s, want about %s", d, DefaultSessionMaxAge)
	}
	if want := []string{"turn:a.z.example:3478?transport=udp", "turn:a.z.example:3478?transport=tcp"}; !slices.Equal(cg.Home.URIs, want) {
		t.Errorf("URIs %q, want %q", cg.Home.URIs, want)
	}

	rg, err := rs.Join(ctx, cg.ID, api.SessionRequest{})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	wantRelay(t, "representative home", rg.Home, "b", "b.z.example", ipB, cg.ID+"/representative")
	if rg.View == nil {
		t.Fatal("join: no view of the customer's home")
	}
	wantRelay(t, "representative view", *rg.View, "a", "a.z.example", ipA, cg.ID+"/representative")

	// Customer and representative stream both ways through the
	// customer's home relay.
	custA, repA := allocate(t, "udp", cust, cg.Home), allocate(t, "udp", rep, *rg.View)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- stream(custA, repA, n, size) })
	wg.Go(func() { errs <- stream(repA, custA, n, size) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("stream through a: %v", err)
		}
	}

	// Show my screen: the customer publishes on the representative's home.
	sg, err := cs.ShowMyScreen(ctx, cg.ID, api.SessionRequest{})
	if err != nil {
		t.Fatalf("show-my-screen: %v", err)
	}
	if sg.View == nil {
		t.Fatal("show-my-screen: no view of the representative's home")
	}
	wantRelay(t, "customer view", *sg.View, "b", "b.z.example", ipB, cg.ID+"/customer")
	// The customer over TCP, the representative over UDP.
	custB, repB := allocate(t, "tcp", cust, *sg.View), allocate(t, "udp", rep, rg.Home)
	if err := stream(custB, repB, n, size); err != nil {
		t.Fatalf("stream through b: %v", err)
	}

	// The relays count exactly what was sent, per party.
	custUser, repUser := cg.ID+"/"+api.PartyCustomer, cg.ID+"/"+api.PartyRepresentative
	for _, c := range []struct {
		node           string
		r              *relay.Relay
		user           string
		toPeer, toClnt uint64
	}{
		{"a", ra, custUser, sent, sent},
		{"a", ra, repUser, sent, sent},
		{"b", rb, custUser, sent, 0},
		{"b", rb, repUser, 0, sent},
	} {
		var hb api.Heartbeat
		c.r.Stats().FillHeartbeat(&hb)
		u := findUser(hb.RelayUsers, c.user)
		if u.Allocations != 1 || u.ToPeerBytes != c.toPeer || u.ToClientBytes != c.toClnt ||
			u.ToPeerPackets != c.toPeer/size || u.ToClientPackets != c.toClnt/size {
			t.Errorf("relay %s, user %s: %+v; want 1 allocation, %d bytes to peer, %d to client", c.node, c.user, u, c.toPeer, c.toClnt)
		}
	}

	// Connected clients, from the heartbeats the node agents would send.
	h.heartbeat("a", ra)
	h.heartbeat("b", rb)
	admin := client.NewAdmin(h.base, testToken, nil)
	cl, err := admin.Clients(ctx, "")
	if err != nil {
		t.Fatalf("clients: %v", err)
	}
	if len(cl.Nodes) != 2 || cl.Nodes[0].Allocations != 2 || cl.Nodes[1].Allocations != 2 {
		t.Errorf("clients per node: %+v", cl.Nodes)
	}
	if len(cl.Sessions) != 1 || cl.Sessions[0].ID != cg.ID || !cl.Sessions[0].Active {
		t.Fatalf("clients per session: %+v", cl.Sessions)
	}
	wantParties := []api.PartyClient{
		{Party: api.PartyCustomer, Node: "a", Allocations: 1, ToPeerBytes: sent, ToClientBytes: sent},
		{Party: api.PartyCustomer, Node: "b", Allocations: 1, ToPeerBytes: sent},
		{Party: api.PartyRepresentative, Node: "a", Allocations: 1, ToPeerBytes: sent, ToClientBytes: sent},
		{Party: api.PartyRepresentative, Node: "b", Allocations: 1, ToClientBytes: sent},
	}
	if !slices.Equal(cl.Sessions[0].Parties, wantParties) {
		t.Errorf("session parties:\n got %+v\nwant %+v", cl.Sessions[0].Parties, wantParties)
	}
	if one, err := admin.Clients(ctx, "b"); err != nil || len(one.Nodes) != 1 || one.Nodes[0].Node != "b" || len(one.Sessions[0].Parties) != 2 {
		t.Errorf("clients --node b: %+v, %v", one, err)
	}
	if _, err := admin.Clients(ctx, "nope"); !client.IsStatus(err, 404) {
		t.Errorf("clients of an unknown node: %v, want 404", err)
	}

	// A reconnect goes back to the same node while it is alive.
	for range 3 {
		g, err := cs.Renew(ctx, cg.ID, api.SessionRequest{})
		if err != nil || g.Home.Node != "a" || g.Moved || g.View == nil || g.View.Node != "b" {
			t.Fatalf("customer renew: %+v, %v; want home a, view b", g, err)
		}
		g, err = rs.Join(ctx, cg.ID, api.SessionRequest{})
		if err != nil || g.Home.Node != "b" || g.View.Node != "a" {
			t.Fatalf("representative rejoin: %+v, %v; want home b, view a", g, err)
		}
	}

	// Node a dies: the customer's next request gets a new home.
	stopA()
	testkit.Eventually(t, 10*time.Second, "node a down", func() bool { return h.health("a") == cluster.Down })
	g, err := cs.Renew(ctx, cg.ID, api.SessionRequest{})
	if err != nil || g.Home.Node != "b" || !g.Moved {
		t.Fatalf("renew after a died: %+v, %v; want home b, moved", g, err)
	}
	if g, err := rs.Renew(ctx, cg.ID, api.SessionRequest{Party: api.PartyRepresentative}); err != nil || g.Home.Node != "b" || g.View.Node != "b" || g.Moved {
		t.Fatalf("representative renew after a died: %+v, %v; want home b, view b", g, err)
	}
	if got := h.counter("meridian_director_sessions_moved_total", "party", "customer"); got != 1 {
		t.Errorf("moved customers %v, want 1", got)
	}
	if got := h.counter("meridian_director_sessions_created_total"); got != 1 {
		t.Errorf("sessions created %v, want 1", got)
	}
	if got := h.counter("meridian_director_sessions_requests_total", "op", "join", "code", "200"); got != 4 {
		t.Errorf("joins %v, want 4", got)
	}
}

// wantRelay checks a grant's relay: node, host, address and credential.
func wantRelay(t *testing.T, what string, r api.Relay, node, host, addr, user string) {
	t.Helper()
	if r.Node != node || r.Host != host || len(r.Addresses) != 1 || r.Addresses[0].String() != addr {
		t.Errorf("%s: node %q host %q addresses %v; want %s, %s, %s", what, r.Node, r.Host, r.Addresses, node, host, addr)
	}
	exp, u, err := relay.ParseUsername(r.Username)
	if err != nil || u != user || !exp.Equal(r.Expires) {
		t.Errorf("%s: username %q (%v): user %q expiry %s; want %q expiring %s", what, r.Username, err, u, exp, user, r.Expires)
	}
	if !strings.HasPrefix(r.URIs[0], "turn:"+host+":") {
		t.Errorf("%s: URIs %q", what, r.URIs)
	}
}

func findUser(us []api.RelayUser, user string) api.RelayUser {
	for _, u := range us {
		if u.User == user {
			return u
		}
	}
	return api.RelayUser{User: user}
}
