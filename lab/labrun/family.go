package labrun

import (
	"net"
	"net/netip"
	"strings"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// fam is one of the lab's two address families; every scenario that can
// runs in both.
type fam int

const (
	v4 fam = 4
	v6 fam = 6
)

// families are the lab's families, IPv4 first.
var families = []fam{v4, v6}

func (f fam) String() string {
	if f == v6 {
		return "ipv6"
	}
	return "ipv4"
}

// famOf is the family of an address or prefix in text form.
func famOf(s string) fam {
	if strings.Contains(s, ":") {
		return v6
	}
	return v4
}

// addrOf returns the first IPv4 address node n's exec lines assign to an
// interface other than lo.
func addrOf(n *topo.Node) string { return famAddrOf(n, v4) }

// famAddrOf returns the first address of family f node n's exec lines
// assign to an interface other than lo ("" when none).
func famAddrOf(n *topo.Node, f fam) string {
	for _, ex := range n.Exec {
		fs := strings.Fields(ex)
		if len(fs) < 4 || fs[1] != "addr" || fs[2] != "add" {
			continue
		}
		if dev := devOf(fs); dev == "lo" {
			continue
		}
		a, err := netip.ParsePrefix(fs[3])
		if err != nil {
			continue
		}
		if (f == v6) == a.Addr().Is6() {
			return a.Addr().String()
		}
	}
	return ""
}

// devOf returns the device of an `ip addr add` command's fields.
func devOf(fs []string) string {
	for i := range fs {
		if fs[i] == "dev" && i+1 < len(fs) {
			return fs[i+1]
		}
	}
	return ""
}

// nodeAddr is site node n's public address of family f ("" when none).
func nodeAddr(n *cluster.Node, f fam) string { return f.of(n.IPv4, n.IPv6) }

// masterAddr is master m's address of family f ("" when none).
func masterAddr(m cluster.Master, f fam) string { return f.of(m.IPv4, m.IPv6) }

// of is the address of family f among a site entry's two ("" when none).
func (f fam) of(ip4, ip6 netip.Addr) string {
	a := ip4
	if f == v6 {
		a = ip6
	}
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// hostPort joins an address of either family with a port.
func hostPort(addr, port string) string { return net.JoinHostPort(addr, port) }
