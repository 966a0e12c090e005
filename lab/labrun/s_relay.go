package labrun

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// turnPeerPort is where coturn's turnutils_peer echoes in the lab.
const turnPeerPort = "3480"

var lostRE = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\)`)

// relayInterop is scenario 7: per family, an Allocate with
// REQUESTED-ADDRESS-FAMILY and the peer filter's classes through the
// first client's home relay; then coturn's turnutils_uclient in the first
// client's namespace, through the relay of its home node (the DNS
// answer), to turnutils_peer in a client of another region; zero loss.
func (e *Env) relayInterop(ctx context.Context, r *Result) {
	c, home, err := e.firstClient(ctx)
	if err != nil {
		r.fail("%v", err)
		return
	}
	peer := e.otherRegion(c)
	if !e.relayListening(home) {
		r.Status, r.Detail = Skip, noRelay(home)
		return
	}
	if _, err := e.allocateFrom(ctx, c.Name, home); err != nil {
		r.fail("no TURN allocation on %s (is the relay running in the node agent?): %v", home.Name, err)
		return
	}
	for _, f := range families {
		e.relayFamily(ctx, r, f, c, peer, home)
	}
	for _, tool := range []string{"turnutils_uclient", "turnutils_peer"} {
		if _, err := exec.LookPath(tool); err != nil {
			r.figure("coturn interop", "skipped: %s not installed (Debian package coturn)", tool)
			return
		}
	}
	secret, err := e.relaySecret()
	if err != nil {
		r.fail("%v", err)
		return
	}
	peerAddr, stop, err := e.startPeer(peer)
	if err != nil {
		r.fail("%v", err)
		return
	}
	defer stop()
	port := strings.TrimPrefix(relayAddr(home), home.IPv4.String()+":")
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := []string{"netns", "exec", e.lab.NS(c.Name), "turnutils_uclient", "-W", secret, "-u", "lab",
		"-p", port, "-e", peerAddr, "-r", turnPeerPort, "-n", "200", "-l", "160", "-m", "2", home.IPv4.String()}
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	m := lostRE.FindStringSubmatch(string(out))
	switch {
	case m == nil:
		r.fail("turnutils_uclient through %s: %v: %s", home.Name, err, lastLines(string(out), 5))
	case m[1] != "0":
		r.fail("turnutils_uclient through %s lost %s packets (%s%%)", home.Name, m[1], m[2])
	default:
		r.figure("path", "%s -> relay %s -> %s (%s)", c.Name, home.Name, peer.Name, peerAddr)
		r.figure("lost", "%s packets (%s%%) of 2 clients x 200 messages", m[1], m[2])
	}
}

// deniedPeers are peers of the relay filter's deny-by-default classes,
// per family, that the lab's allow_peers does not cover.
var deniedPeers = map[fam][]string{
	v4: {"0.0.0.1", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1", "192.168.1.1",
		"192.0.0.1", "198.18.0.1", "203.0.113.99", "192.88.99.1", "224.0.0.1", "240.0.0.1", "255.255.255.255"},
	v6: {"::1", "::", "::ffff:0:1", "::a00:1", "64:ff9b::a00:1", "64:ff9b:1::1", "100::1", "2001::1",
		"2001:db8:ffff::1", "2002:c000:201::1", "fd00::1", "fe80::1", "fec0::1", "ff0e::1", "4000::1"},
}

// relayFamily checks what client c's home relay allocates when asked for
// family f (REQUESTED-ADDRESS-FAMILY, RFC 8656), and that its peer filter
// refuses permissions for f's deny-by-default classes while it grants
// one for the other client's address of f (allowed by allow_peers).
func (e *Env) relayFamily(ctx context.Context, r *Result, f fam, c, peer *topo.Node, home *cluster.Node) {
	u, p, err := e.turnCredential("lab-family")
	if err != nil {
		r.fail("%v", err)
		return
	}
	out, err := e.probe(ctx, c.Name, "turn-family", relayAddr(home), u, p, strconv.Itoa(int(f)))
	relayed, isRelayed := strings.CutPrefix(out, "relayed ")
	relayedHost, _, _ := net.SplitHostPort(relayed)
	switch {
	case err != nil:
		r.fail("%s REQUESTED-ADDRESS-FAMILY on %s: %v", f, home.Name, err)
	case isRelayed && famOf(relayedHost) == f:
		r.ffig(f, "REQUESTED-ADDRESS-FAMILY", "%s allocates %s", home.Name, relayed)
	case isRelayed:
		r.fail("%s asked for %s and got %s: the relay ignored REQUESTED-ADDRESS-FAMILY", home.Name, f, relayed)
	case strings.HasPrefix(out, "error 440 ") && f != relayFam(home):
		r.ffig(f, "REQUESTED-ADDRESS-FAMILY", "%s answers %s: its relay serves %s only (pion/turn v2 allocates one family, that of the relay's address; it neither sends nor honours the attribute)",
			home.Name, out, relayFam(home))
	default:
		r.fail("%s REQUESTED-ADDRESS-FAMILY on %s: %s", f, home.Name, out)
	}

	denied := deniedPeers[f]
	allowed := famAddrOf(peer, f)
	out, err = e.probe(ctx, c.Name, "turn-perm", relayAddr(home), u, p, strings.Join(append(slices.Clone(denied), allowed), ","))
	if err != nil {
		r.fail("%s permissions on %s: %v", f, home.Name, err)
		return
	}
	refused, granted := 0, ""
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) < 2 {
			continue
		}
		switch {
		case fs[0] == allowed:
			granted = strings.Join(fs[1:], " ")
		case fs[1] == "refused":
			refused++
		default:
			r.fail("%s: %s granted a permission for %s, a denied class", f, home.Name, fs[0])
		}
	}
	if refused != len(denied) {
		r.fail("%s: %d of %d denied peers refused", f, refused, len(denied))
	}
	r.ffig(f, "peer filter", "%d/%d permissions for denied classes refused (%s)", refused, len(denied), strings.Join(denied, " "))
	if f == relayFam(home) {
		if granted != "ok" {
			r.fail("%s: permission for the allowed peer %s: %s", f, allowed, granted)
		}
		r.ffig(f, "allowed peer", "%s (allow_peers): %s", allowed, granted)
	} else {
		// A permission only says what the relay would let through; the
		// relayed socket is of the relay's family and cannot reach it.
		r.ffig(f, "allowed peer", "%s (allow_peers): permission %s, unreachable from the %s relayed address", allowed, granted, relayFam(home))
	}
}

// relayFam is the family node n's relay serves: its IPv4 address when it
// has one.
func relayFam(n *cluster.Node) fam {
	if n.IPv4.IsValid() {
		return v4
	}
	return v6
}

// startPeer runs coturn's turnutils_peer (a UDP echo) in client peer's
// namespace and returns its address.
func (e *Env) startPeer(peer *topo.Node) (addr string, stop func(), err error) {
	addr = addrOf(peer)
	name := "turn-peer-" + peer.Name
	if err := e.procs.Start(name, e.lab.Command(peer.Name, "turnutils_peer", "-L", addr, "-p", turnPeerPort)); err != nil {
		return "", nil, err
	}
	stop = func() { e.procs.Stop(name, syscall.SIGTERM, 5*time.Second) }
	// turnutils_peer prints nothing when it is bound; give it a moment.
	time.Sleep(200 * time.Millisecond)
	return addr, stop, nil
}

// otherRegion returns a client of another region than c.
func (e *Env) otherRegion(c *topo.Node) *topo.Node {
	for _, p := range e.clients {
		if region(p) != region(c) {
			return p
		}
	}
	return e.clients[len(e.clients)-1]
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}
