package labrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/lab/topo"
)

func region(n *topo.Node) string { return n.Labels[topo.LabelRegion] }

// siteNode returns the site's node holding address ip (of either
// family), or nil.
func (e *Env) siteNode(ip string) *cluster.Node {
	for i := range e.site.Nodes {
		if n := &e.site.Nodes[i]; nodeAddr(n, v4) == ip || nodeAddr(n, v6) == ip {
			return n
		}
	}
	return nil
}

// topoNode returns the topology node of the site node called name.
func (e *Env) topoNode(name string) *topo.Node {
	for _, n := range e.nodes {
		if n.Labels[topo.LabelName] == name || n.Name == name {
			return n
		}
	}
	return nil
}

// router returns the router of a region, or nil.
func (e *Env) router(reg string) *topo.Node {
	for _, r := range e.routers {
		if region(r) == reg {
			return r
		}
	}
	return nil
}

// resolve asks the lab's DNS server over IPv4 for the traffic hostname's
// A records from client's namespace, with ECS when ecs is not empty; it
// returns the answering node (the first address).
func (e *Env) resolve(ctx context.Context, client, ecs string) (*cluster.Node, error) {
	return e.resolveFam(ctx, client, v4, ecs)
}

// resolveFam asks the DNS server over family f for the traffic
// hostname's records of that family (A or AAAA), from client's own
// address of f, with ECS when ecs is not empty (of either family).
func (e *Env) resolveFam(ctx context.Context, client string, f fam, ecs string) (*cluster.Node, error) {
	out, err := e.query(ctx, client, f, e.site.TrafficHostname, ecs)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s answer for %s", f, e.site.TrafficHostname)
	}
	n := e.siteNode(out[0])
	if n == nil {
		return nil, fmt.Errorf("answer %s is no traffic node", out[0])
	}
	return n, nil
}

// query asks the DNS server over family f for name's records of f from
// client's namespace and returns the addresses.
func (e *Env) query(ctx context.Context, client string, f fam, name, ecs string) ([]string, error) {
	server := e.dnsServer(f)
	if server == "" {
		return nil, fmt.Errorf("the DNS server has no %s address", f)
	}
	args := []string{qkind(f), server, name}
	if ecs != "" {
		args = append(args, ecs)
	}
	out, err := e.probe(ctx, client, args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// qkind is the probe kind querying family f's address records.
func qkind(f fam) string {
	if f == v6 {
		return "aaaa"
	}
	return "dns"
}

// ctl runs `meridian ctl ARGS` against the first director from its
// namespace.
func (e *Env) ctl(ctx context.Context, args ...string) (string, error) {
	return e.ctlVia(ctx, e.director, args...)
}

// ctlVia runs `meridian ctl ARGS` against director d from its namespace.
func (e *Env) ctlVia(ctx context.Context, d *topo.Node, args ...string) (string, error) {
	token := filepath.Join(e.dir, genToken)
	full := append([]string{"netns", "exec", e.lab.NS(d.Name), e.cfg.Bin, "ctl",
		"--director", e.directorURLs[d.Name], "--token-file", token}, args...)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// applySite stores the site file with method set to m as a new config
// version and waits until every subscriber holds it.
func (e *Env) applySite(ctx context.Context, m cluster.Method) error {
	data, err := os.ReadFile(e.sitePath)
	if err != nil {
		return err
	}
	text := strings.Replace(string(data), "method: "+string(e.site.Selection.Method), "method: "+string(m), 1)
	f := filepath.Join(e.dir, "site-"+string(m)+".yaml")
	if err := writeFile(f, []byte(text), 0o644); err != nil {
		return err
	}
	if _, err := e.ctl(ctx, "apply", "-f", f, "--author", "lab"); err != nil {
		return err
	}
	_, err = e.ctl(ctx, "sync", "--wait", "10s")
	return err
}

// anycastPrefix and anycastAddr are what the nodes announce and serve in
// family f ("" when the site has none).
func (e *Env) anycastPrefix(f fam) string {
	for _, n := range e.site.Nodes {
		for _, p := range n.Anycast {
			if (f == v6) == p.Addr().Is6() {
				return p.String()
			}
		}
	}
	return ""
}

func (e *Env) anycastAddr(f fam) string {
	a := e.site.Selection.AnycastIPv4
	if f == v6 {
		a = e.site.Selection.AnycastIPv6
	}
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// nodeInfoURL is a node agent's info endpoint at addr (either family).
func nodeInfoURL(addr string) string { return "http://" + hostPort(addr, "7801") + "/v1/node" }

// hasRouteVia reports whether region's router routes the anycast prefix
// of ip's family through next hop ip.
func (e *Env) hasRouteVia(reg, ip string) bool {
	r := e.router(reg)
	if r == nil {
		return false
	}
	via, err := e.routeVia(r, e.anycastPrefix(famOf(ip)))
	if err != nil {
		return false
	}
	return slices.Contains(via, ip)
}

// turnCredential mints a relay credential as the director's broker does.
func (e *Env) turnCredential(user string) (string, string, error) {
	data, err := os.ReadFile(filepath.Join(e.dir, genPSK))
	if err != nil {
		return "", "", err
	}
	psk, err := cluster.NewPSK(data)
	if err != nil {
		return "", "", err
	}
	u, p := cluster.RelayCredential(cluster.RelaySecret(psk), user, time.Now().Add(10*time.Minute))
	return u, p, nil
}

// relaySecret is the site's TURN REST secret, for coturn's tools.
func (e *Env) relaySecret() (string, error) {
	data, err := os.ReadFile(filepath.Join(e.dir, genPSK))
	if err != nil {
		return "", err
	}
	psk, err := cluster.NewPSK(data)
	if err != nil {
		return "", err
	}
	return string(cluster.RelaySecret(psk)), nil
}

// relayAddr is node n's TURN UDP address.
func relayAddr(n *cluster.Node) string {
	port := n.Relay.UDPPort
	if port == 0 {
		port = 3478
	}
	return fmt.Sprintf("%s:%d", n.IPv4, port)
}

// allocateFrom tries one TURN allocation on node n from client's namespace.
func (e *Env) allocateFrom(ctx context.Context, client string, n *cluster.Node) (string, error) {
	u, p, err := e.turnCredential("lab-" + client)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return e.probe(ctx, client, "turn", relayAddr(n), u, p)
}

// relayListening reports whether anything listens on node n's TURN UDP
// port inside its namespace, telling a relay that is not running from one
// that refuses.
func (e *Env) relayListening(n *cluster.Node) bool {
	tn := e.topoNode(n.Name)
	if tn == nil {
		return false
	}
	out, err := e.lab.Command(tn.Name, "cat", "/proc/net/udp").Output()
	if err != nil {
		return false
	}
	port := n.Relay.UDPPort
	if port == 0 {
		port = 3478
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, l := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 1 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}

// noRelay is the skip reason when node n runs no relay.
func noRelay(n *cluster.Node) string {
	return fmt.Sprintf("nothing listens on %s's TURN port: the node agent runs no relay", n.Name)
}

// waitAllUp waits until the director reports every traffic node up.
func (e *Env) waitAllUp(ctx context.Context) error {
	var last string
	err := waitFor(ctx, failWait, func() bool {
		out, err := e.ctl(ctx, "--json", "nodes")
		if err != nil {
			last = err.Error()
			return false
		}
		var nodes []struct {
			Name   string `json:"name"`
			Health string `json:"health"`
		}
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			last = err.Error()
			return false
		}
		for _, n := range nodes {
			if n.Health != "up" {
				last = n.Name + " is " + n.Health
				return false
			}
		}
		return len(nodes) == len(e.site.Nodes)
	})
	if err != nil {
		return fmt.Errorf("director does not see every node up: %s: %w", last, err)
	}
	return nil
}
