package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// Test fixtures for the engine: sites built in code, a Locator over a table.

var (
	january = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	july    = time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
)

// tnode is a node with the defaults validation would give.
func tnode(name string, mods ...func(*Node)) Node {
	n := Node{Name: name, ID: name, Hostname: name + ".example.com.", Weight: 100, Accepting: true, TimeZone: "UTC",
		IPv4: netip.MustParseAddr("192.0.2.1")}
	for _, m := range mods {
		m(&n)
	}
	return n
}

func at(lat, lon float64) func(*Node) { return func(n *Node) { n.Lat, n.Lon = lat, lon } }
func zone(z string) func(*Node)       { return func(n *Node) { n.TimeZone = z } }
func weight(w int) func(*Node)        { return func(n *Node) { n.Weight = w } }
func secondary(n *Node)               { n.Secondary = true }
func notAccepting(n *Node)            { n.Accepting = false }
func prefixes(ps ...string) func(*Node) {
	return func(n *Node) {
		for _, p := range ps {
			n.Prefixes = append(n.Prefixes, netip.MustParsePrefix(p))
		}
	}
}

// tsite makes a site with the given method and answer count.
func tsite(method Method, answers int, nodes ...Node) *Site {
	return &Site{
		Name: "test", Zone: "example.com.", SupportHostname: "example.com.", TrafficHostname: "traffic.example.com.",
		Masters:   Masters{Primary: Master{Name: "m1"}, Backup: &Master{Name: "m2"}},
		Selection: Selection{Method: method, Answers: answers},
		Nodes:     nodes,
	}
}

// tsnap makes a snapshot where every node is up, then applies states.
func tsnap(s *Site, states ...NodeState) *Snapshot {
	sn := &Snapshot{Format: SnapshotFormat, Site: s.Name, Version: 1, Config: s, Published: january}
	for _, n := range s.Nodes {
		st := NodeState{Name: n.Name, Health: Up}
		for _, o := range states {
			if o.Name == n.Name {
				st = o
			}
		}
		sn.Nodes = append(sn.Nodes, st)
	}
	return sn
}

func down(name string) NodeState    { return NodeState{Name: name, Health: Down} }
func unknown(name string) NodeState { return NodeState{Name: name, Health: Unknown} }
func drained(name string) NodeState { return NodeState{Name: name, Health: Up, Drained: true} }

// tableLocator locates addresses by the longest matching entry.
type tableLocator []Location

func (t tableLocator) Locate(a netip.Addr) (Location, bool) {
	best := -1
	for i, l := range t {
		if l.Network.Contains(a) && (best < 0 || l.Network.Bits() > t[best].Network.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return Location{}, false
	}
	return t[best], true
}

func loc(network string, lat, lon float64, tz string) Location {
	return Location{Lat: lat, Lon: lon, TimeZone: tz, Network: netip.MustParsePrefix(network)}
}

// q is a query from a full address (no ECS).
func q(addr string) Query {
	a := netip.MustParseAddr(addr)
	return Query{Client: a, SourceBits: a.BitLen(), Now: january}
}

func names(d *Decision) []string {
	var out []string
	for _, n := range d.Chosen() {
		out = append(out, n.Name)
	}
	return out
}

func selectOne(e *Engine, qu Query) *Decision {
	var d Decision
	e.Select(qu, &d)
	return &d
}

// clientAddr is the i-th synthetic client: one address in each of 100k
// distinct /24 networks spread over the IPv4 space.
func clientAddr(i int) netip.Addr {
	// An odd multiplier is a bijection modulo 2^24, so the /24s are
	// distinct; it spreads consecutive i over the whole space.
	x := uint32(i) * 2654435761 & 0xffffff
	return netip.AddrFrom4([4]byte{byte(x >> 16), byte(x >> 8), byte(x), 7})
}

// nodeNames is n0..n(count-1).
func nodeNames(count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
