package broker

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/publish"
)

// placeParty gives a party its home node: the one it has while that node
// is alive (a reconnect goes back to the same node, as on the appliance),
// else the engine's choice for its address. It reports whether the party
// moved from a node that left.
func placeParty(p *publish.Published, eng *cluster.Engine, pr *partyRecord, now time.Time) (moved bool, err error) {
	hadHome := pr.Node != "" || pr.Anycast
	if hadHome && homeAlive(p, eng, pr) {
		return false, nil
	}
	var dec cluster.Decision
	eng.Select(cluster.Query{
		Client: pr.Address, SourceBits: pr.Address.BitLen(),
		Offset: pr.Offset.D(), HasOffset: pr.HasOffset, Now: now,
	}, &dec)
	var node string
	switch {
	case dec.Anycast:
	case dec.N > 0:
		node = dec.Nodes[0].Name
	default:
		return false, errNoHome
	}
	if hadHome && node == pr.Node && dec.Anycast == pr.Anycast {
		return false, nil
	}
	pr.Node, pr.Anycast, pr.Since = node, dec.Anycast, now.UTC()
	return hadHome, nil
}

// homeAlive reports whether a party's home still takes its clients: the
// node is in the site, accepting, not drained and up. When no node is up
// the engine fails open to every accepting node, and so does this: a
// probe outage must not scatter the sessions.
func homeAlive(p *publish.Published, eng *cluster.Engine, pr *partyRecord) bool {
	if pr.Anycast {
		v4, v6 := eng.Anycast()
		return v4.IsValid() || v6.IsValid()
	}
	n := p.Snap.Config.Node(pr.Node)
	if n == nil || !p.Snap.Accepting(n) {
		return false
	}
	st := p.Snap.Node(pr.Node)
	pool, _ := eng.Pool()
	return st.Health == cluster.Up || pool == cluster.PoolFailOpen
}

// relayFor describes a party's home relay with a credential for user.
func (b *Broker) relayFor(p *publish.Published, eng *cluster.Engine, pr *partyRecord, user string, expires time.Time) api.Relay {
	out := api.Relay{Node: pr.Node, Expires: expires}
	ports := p.Snap.Config.Relay
	if pr.Anycast {
		v4, v6 := eng.Anycast()
		a := v4
		if !a.IsValid() || (pr.Address.Is6() && !pr.Address.Is4In6() && v6.IsValid()) {
			a = v6
		}
		out.Host = a.String()
		out.Addresses = []netip.Addr{a}
	} else if n := p.Snap.Config.Node(pr.Node); n != nil {
		out.Host = strings.TrimSuffix(n.Hostname, ".")
		for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
			if a.IsValid() {
				out.Addresses = append(out.Addresses, a)
			}
		}
		ports = n.Relay
	}
	out.URIs = turnURIs(out.Host, ports, b.cfg.TURNTLS)
	out.Username, out.Password = cluster.RelayCredential(cluster.RelaySecret(b.cfg.PSK), user, expires)
	return out
}

// turnURIs are the RFC 7065 URIs of a relay; a port of -1 is a disabled
// listener.
func turnURIs(host string, r cluster.Relay, tls bool) []string {
	var out []string
	hp := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	if r.UDPPort > 0 {
		out = append(out, "turn:"+hp(r.UDPPort)+"?transport=udp")
	}
	if r.TCPPort > 0 {
		out = append(out, "turn:"+hp(r.TCPPort)+"?transport=tcp")
	}
	if tls && r.TLSPort > 0 {
		out = append(out, "turns:"+hp(r.TLSPort)+"?transport=tcp")
	}
	return out
}

// sessionUser is the relay user of a party: "SESSIONID/PARTY", which the
// relays' accounting reports back for connected clients.
func sessionUser(id, party string) string { return id + "/" + party }

// parseSessionUser splits a relay user into session id and party.
func parseSessionUser(user string) (id, party string, ok bool) {
	id, party, ok = strings.Cut(user, "/")
	if !ok || !validSessionID(id) || (party != api.PartyCustomer && party != api.PartyRepresentative) {
		return "", "", false
	}
	return id, party, true
}
