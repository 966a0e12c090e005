package labrun

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// streamFor is how long each direction of the session streams.
const streamFor = 2 * time.Second

// session is scenario 8: a customer in one region (over IPv4) and a
// representative in the other (over IPv6, when the director has an IPv6
// address) get their home nodes from the director's session broker; the
// customer's stream goes through its home node to the representative's
// home node and back, then, after show-my-screen, the other way round.
// The relays serve IPv4 only (see relayFamily), so the streams run over
// IPv4 whichever family a party signed in over.
func (e *Env) session(ctx context.Context, r *Result) {
	cust, rep := e.clients[0], e.otherRegion(e.clients[0])
	created, err := e.sessionCall(ctx, cust, api.PathSessions, "{}")
	if err != nil && strings.Contains(err.Error(), ": 404 ") {
		r.Status, r.Detail = Skip, "the director has no session broker (POST "+api.PathSessions+" answers 404)"
		return
	}
	if err != nil {
		r.fail("create: %v", err)
		return
	}
	id := created.ID
	repURL, repFam := e.directorURL, v4
	if u := e.directorURLs6[e.director.Name]; u != "" && famAddrOf(rep, v6) != "" {
		repURL, repFam = u, v6
	}
	joined, err := e.sessionCallAt(ctx, repURL, rep, strings.Replace(api.PathSessionJoin, "{id}", id, 1), "{}")
	if err != nil {
		r.fail("join over %s: %v", repFam, err)
		return
	}
	if !e.homeIn(r, "customer", cust, created.Home) || !e.homeIn(r, "representative", rep, joined.Home) {
		return
	}
	r.ffig(v4, "customer", "%s signs in from %s to %s: home %s %v", cust.Name, famAddrOf(cust, v4), e.directorURL, created.Home.Node, created.Home.Addresses)
	r.ffig(repFam, "representative", "%s joins from %s to %s: home %s %v", rep.Name, famAddrOf(rep, repFam), repURL, joined.Home.Node, joined.Home.Addresses)
	if repFam == v6 {
		r.ffig(v6, "media", "through the homes' relays over IPv4: a dual-stack node's relay serves IPv4 only")
	}
	if joined.View == nil || joined.View.Node != created.Home.Node {
		r.fail("representative's view %v is not the customer's home %s", joined.View, created.Home.Node)
		return
	}
	r.figure("homes", "customer %s -> %s, representative %s -> %s", cust.Name, created.Home.Node, rep.Name, joined.Home.Node)
	// The customer streams through its home node to the representative's
	// allocation on the representative's home node, which echoes it back.
	if got, err := e.sessionStream(ctx, rep, joined.Home, cust, created.Home); err != nil {
		r.fail("customer -> representative: %v", err)
	} else {
		r.figure("customer stream", "%s", got)
	}
	shown, err := e.sessionCall(ctx, cust, strings.Replace(api.PathSessionShow, "{id}", id, 1), "{}")
	if err != nil {
		r.fail("show-my-screen: %v", err)
		return
	}
	if shown.View == nil || shown.View.Node != joined.Home.Node {
		r.fail("customer's view after show-my-screen %v is not the representative's home %s", shown.View, joined.Home.Node)
		return
	}
	if got, err := e.sessionStream(ctx, cust, shown.Home, rep, joined.Home); err != nil {
		r.fail("representative -> customer (show-my-screen): %v", err)
	} else {
		r.figure("show-my-screen stream", "%s", got)
	}
}

// sessionCall posts body to path on the first director from client's
// namespace and decodes the grant.
func (e *Env) sessionCall(ctx context.Context, client *topo.Node, path, body string) (*api.Grant, error) {
	return e.sessionCallAt(ctx, e.directorURL, client, path, body)
}

// sessionCallAt posts body to path on the director at url.
func (e *Env) sessionCallAt(ctx context.Context, url string, client *topo.Node, path, body string) (*api.Grant, error) {
	out, err := e.probe(ctx, client.Name, "post", url+path, filepath.Join(e.dir, genCli), body)
	if err != nil {
		return nil, err
	}
	code, rest, _ := strings.Cut(out, " ")
	if code != "200" {
		return nil, fmt.Errorf("POST %s: %s", path, out)
	}
	var g api.Grant
	if err := json.Unmarshal([]byte(rest), &g); err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return &g, nil
}

// homeIn checks that a party's home node lies in its client's region.
func (e *Env) homeIn(r *Result, party string, c *topo.Node, home api.Relay) bool {
	n := e.site.Node(home.Node)
	if n == nil || n.Region != region(c) {
		r.fail("%s %s (region %s) got home %q", party, c.Name, region(c), home.Node)
		return false
	}
	return true
}

// sessionStream has echoer allocate on its relay (permitting the sender's
// relay) and sender stream through its own relay to that allocation.
func (e *Env) sessionStream(ctx context.Context, echoer *topo.Node, echoRelay api.Relay, sender *topo.Node, sendRelay api.Relay) (string, error) {
	en, sn := e.site.Node(echoRelay.Node), e.site.Node(sendRelay.Node)
	if en == nil || sn == nil {
		return "", fmt.Errorf("unknown home node %q or %q", echoRelay.Node, sendRelay.Node)
	}
	ew, err := e.startWatch(ctx, echoer.Name, "turn-echo", relayAddr(en), echoRelay.Username, echoRelay.Password,
		sn.IPv4.String(), (streamFor + 8*time.Second).String())
	if err != nil {
		return "", err
	}
	defer func() { _ = ew.cmd.Process.Kill(); _, _ = ew.rest() }()
	relayed, ok := strings.CutPrefix(ew.first, "relayed ")
	if !ok {
		return "", fmt.Errorf("echo on %s: %q", en.Name, ew.first)
	}
	sw, err := e.startWatch(ctx, sender.Name, "turn-stream", relayAddr(sn), sendRelay.Username, sendRelay.Password, relayed, streamFor.String())
	if err != nil {
		return "", err
	}
	lines, err := sw.rest()
	if err != nil {
		return "", err
	}
	var sent, got int
	if len(lines) == 0 {
		return "", fmt.Errorf("stream printed nothing")
	}
	if _, err := fmt.Sscanf(lines[len(lines)-1], "sent %d received %d", &sent, &got); err != nil {
		return "", fmt.Errorf("stream: %q", lines[len(lines)-1])
	}
	if got < sent {
		return "", fmt.Errorf("%d of %d datagrams lost", sent-got, sent)
	}
	return sender.Name + " -> " + sn.Name + " -> " + en.Name + " -> " + echoer.Name + " and back: " +
		strconv.Itoa(got) + "/" + strconv.Itoa(sent) + " datagrams", nil
}
