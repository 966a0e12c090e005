package labrun

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-traffic/meridian/lab/topo"
)

// turnPeerPort is where coturn's turnutils_peer echoes in the lab.
const turnPeerPort = "3480"

var lostRE = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\)`)

// relayInterop is scenario 7: coturn's turnutils_uclient in the first
// client's namespace, through the relay of its home node (the DNS
// answer), to turnutils_peer in a client of another region; zero loss.
func (e *Env) relayInterop(ctx context.Context, r *Result) {
	for _, tool := range []string{"turnutils_uclient", "turnutils_peer"} {
		if _, err := exec.LookPath(tool); err != nil {
			r.Status, r.Detail = Skip, tool+" not installed (Debian package coturn)"
			return
		}
	}
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
