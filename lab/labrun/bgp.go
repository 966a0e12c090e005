package labrun

import (
	"encoding/json"
	"strings"
)

// bgpPath is one path of a prefix in a router's BGP table, as FRR's
// `show bgp ipv4|ipv6 unicast PREFIX json` prints it.
type bgpPath struct {
	Peer struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
	Community struct {
		String string `json:"string"`
	} `json:"community"`
}

// bgpPaths returns the paths region's router holds for the anycast
// prefix of family f, by the peer (the session's neighbor address) they
// came from. A node's path stays in the table while a better one is
// chosen, so this (not the kernel route, which shows the best path only)
// tells whether the node still announces.
func (e *Env) bgpPaths(reg string, f fam) (map[string]bgpPath, error) {
	r := e.router(reg)
	if r == nil {
		return nil, nil
	}
	out, err := e.vtysh(r, "show bgp "+f.String()+" unicast "+e.anycastPrefix(f)+" json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths []bgpPath `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, err
	}
	paths := map[string]bgpPath{}
	for _, p := range doc.Paths {
		paths[p.Peer.PeerID] = p
	}
	return paths, nil
}

// hasPath reports whether region's router holds a path from node ip (the
// node's session address of ip's family) for that family's prefix.
func (e *Env) hasPath(reg, ip string) bool {
	paths, err := e.bgpPaths(reg, famOf(ip))
	if err != nil {
		return false
	}
	_, ok := paths[ip]
	return ok
}

// gshutPath reports whether the path from ip carries GRACEFUL_SHUTDOWN.
func (e *Env) gshutPath(reg, ip string) bool {
	paths, err := e.bgpPaths(reg, famOf(ip))
	if err != nil {
		return false
	}
	p, ok := paths[ip]
	return ok && (strings.Contains(p.Community.String, "graceful-shutdown") || strings.Contains(p.Community.String, "65535:0"))
}
