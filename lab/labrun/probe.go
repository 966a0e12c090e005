package labrun

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/pion/logging"
	"github.com/pion/turn/v2"
)

// Probe is the probe side of the runner: the runner runs itself as
// `probe KIND ARGS...` inside a namespace, so that every packet starts
// from the lab's own addresses. Kinds:
//
//	dns SERVER NAME [ECS]                   print the A answers, space-separated
//	aaaa SERVER NAME [ECS]                  print the AAAA answers, space-separated
//	http URL                                print the status code and body
//	wait-http URL TIMEOUT                   until URL answers 200
//	watch-dns SERVER NAME ECS ADDR gone|back TIMEOUT
//	                                        (A or AAAA records, by ADDR's family)
//	watch-node URL NAME is|not TIMEOUT      until URL's node info names NAME (or another node)
//	turn SERVER USER PASS                   allocate; print the relayed address
//	turn-family SERVER USER PASS 4|6        Allocate with REQUESTED-ADDRESS-FAMILY;
//	                                        print "relayed ADDR" or "error CODE REASON"
//	turn-perm SERVER USER PASS PEERS        allocate, ask a permission for each of the
//	                                        comma-separated PEERS; print "PEER ok" or
//	                                        "PEER refused REASON" per peer
//	metric URL NAME                         print the value of metric NAME (no labels) at URL
//	etcd-status URL                         print an etcd member's id and its raft leader's id
//	post URL TOKENFILE BODY                 POST BODY with the bearer token; print status and body
//	turn-echo SERVER USER PASS PEERIP DUR   allocate, print "relayed ADDR", echo what
//	                                        PEERIP sends through it for DUR
//	turn-stream SERVER USER PASS PEER DUR   allocate, print "ready", send to the
//	                                        echoing PEER every 20ms for DUR,
//	                                        print "sent N received M"
//
// The watch kinds print "ready", poll, then print "done UNIXNANO" when the
// condition holds, so the caller can time an event it causes after ready.
func Probe(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("probe: missing kind")
	}
	kind, args := args[0], args[1:]
	want := map[string]int{"dns": -1, "aaaa": -1, "turn-family": 4, "turn-perm": 4, "metric": 2, "etcd-status": 1, "http": 1, "wait-http": 2, "watch-dns": 6, "watch-node": 4, "turn": 3, "turn-stream": 5, "turn-echo": 5, "post": 3}
	n, ok := want[kind]
	if !ok {
		return fmt.Errorf("probe: unknown kind %q", kind)
	}
	if (n >= 0 && len(args) != n) || (n < 0 && len(args) != 2 && len(args) != 3) {
		return fmt.Errorf("probe %s: wrong number of arguments", kind)
	}
	switch kind {
	case "dns", "aaaa":
		ecs := ""
		if len(args) == 3 {
			ecs = args[2]
		}
		qtype := dns.TypeA
		if kind == "aaaa" {
			qtype = dns.TypeAAAA
		}
		addrs, err := query(args[0], args[1], qtype, ecs)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, strings.Join(addrs, " "))
	case "turn-family":
		res, err := allocateFamily(args[0], args[1], args[2], args[3])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, res)
	case "metric":
		v, err := metric(args[0], args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, v)
	case "etcd-status":
		member, leader, err := etcdStatus(args[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, member, leader)
	case "turn-perm":
		return permissions(out, args[0], args[1], args[2], strings.Split(args[3], ","))
	case "http":
		code, body, err := httpGet(args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d %s\n", code, body)
	case "wait-http":
		limit, err := time.ParseDuration(args[1])
		if err != nil {
			return fmt.Errorf("probe wait-http: %w", err)
		}
		return poll(limit, 100*time.Millisecond, func() bool {
			code, _, err := httpGet(args[0])
			return err == nil && code == http.StatusOK
		})
	case "watch-dns":
		limit, err := time.ParseDuration(args[5])
		if err != nil {
			return fmt.Errorf("probe watch-dns: %w", err)
		}
		server, name, ecs, addr, gone := args[0], args[1], args[2], args[3], args[4] == "gone"
		if ecs == "-" {
			ecs = ""
		}
		qtype := dns.TypeA
		if strings.Contains(addr, ":") {
			qtype = dns.TypeAAAA
		}
		return watch(out, limit, func() bool {
			addrs, err := query(server, name, qtype, ecs)
			return err == nil && len(addrs) > 0 && slices.Contains(addrs, addr) != gone
		})
	case "watch-node":
		limit, err := time.ParseDuration(args[3])
		if err != nil {
			return fmt.Errorf("probe watch-node: %w", err)
		}
		is := args[2] == "is"
		return watch(out, limit, func() bool {
			name, err := nodeName(args[0])
			return err == nil && (name == args[1]) == is
		})
	case "post":
		code, body, err := httpPost(args[0], args[1], args[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d %s\n", code, body)
	case "turn-echo":
		dur, err := time.ParseDuration(args[4])
		if err != nil {
			return fmt.Errorf("probe turn-echo: %w", err)
		}
		return echo(out, args[0], args[1], args[2], args[3], dur)
	case "turn-stream":
		dur, err := time.ParseDuration(args[4])
		if err != nil {
			return fmt.Errorf("probe turn-stream: %w", err)
		}
		return stream(out, args[0], args[1], args[2], args[3], dur)
	case "turn":
		relayed, err := allocate(args[0], args[1], args[2])
		if err != nil {
			return err
		}
		fmt.Fprintln(out, relayed)
	}
	return nil
}

// watch prints ready, polls cond every 20ms and prints done with the time
// it first held.
func watch(out io.Writer, limit time.Duration, cond func() bool) error {
	fmt.Fprintln(out, "ready")
	if err := poll(limit, 20*time.Millisecond, cond); err != nil {
		return err
	}
	fmt.Fprintf(out, "done %d\n", time.Now().UnixNano())
	return nil
}

func poll(limit, every time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %s", limit)
		}
		time.Sleep(every)
	}
	return nil
}

// query asks server for name's records of qtype (A or AAAA), with an EDNS
// Client Subnet option of the prefix's family when ecs is a prefix.
func query(server, name string, qtype uint16, ecs string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if ecs != "" {
		p, err := netip.ParsePrefix(ecs)
		if err != nil {
			return nil, fmt.Errorf("ecs %q: %w", ecs, err)
		}
		family := uint16(1)
		if p.Addr().Is6() {
			family = 2
		}
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family,
			SourceNetmask: uint8(p.Bits()), Address: p.Masked().Addr().AsSlice()})
		m.Extra = append(m.Extra, o)
	}
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", name, server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("query %s at %s: %s", name, server, dns.RcodeToString[r.Rcode])
	}
	var addrs []string
	for _, rr := range r.Answer {
		switch a := rr.(type) {
		case *dns.A:
			addrs = append(addrs, a.A.String())
		case *dns.AAAA:
			addrs = append(addrs, a.AAAA.String())
		}
	}
	return addrs, nil
}

var probeClient = &http.Client{Timeout: 500 * time.Millisecond}

func httpGet(url string) (int, string, error) {
	resp, err := probeClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// httpPost posts body with the bearer token in tokenFile's first line.
func httpPost(url, tokenFile, body string) (int, string, error) {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return 0, "", err
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(tok)), "\n")
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+first)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// nodeName returns the name a node agent's info endpoint reports.
func nodeName(url string) (string, error) {
	code, body, err := httpGet(url)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", url, code)
	}
	var info struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	return info.Name, nil
}

// allocate makes one TURN allocation on server and returns its relayed
// address.
func allocate(server, user, pass string) (string, error) {
	_, relay, closeAll, err := allocation(server, user, pass)
	if err != nil {
		return "", err
	}
	defer closeAll()
	return relay.LocalAddr().String(), nil
}

// echo allocates on server, permits peerIP, prints the relayed address
// and sends back every datagram that arrives for dur.
func echo(out io.Writer, server, user, pass, peerIP string, dur time.Duration) error {
	ip := net.ParseIP(peerIP)
	if ip == nil {
		return fmt.Errorf("peer %q: not an IP address", peerIP)
	}
	c, relay, closeAll, err := allocation(server, user, pass)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := c.CreatePermission(&net.UDPAddr{IP: ip}); err != nil {
		return fmt.Errorf("permission for %s on %s: %w", peerIP, server, err)
	}
	fmt.Fprintf(out, "relayed %s\n", relay.LocalAddr())
	_ = relay.SetDeadline(time.Now().Add(dur))
	buf := make([]byte, 1500)
	for {
		n, from, err := relay.ReadFrom(buf)
		if err != nil {
			return nil // the deadline
		}
		_, _ = relay.WriteTo(buf[:n], from)
	}
}

// allocation makes a TURN client and one allocation on server.
func allocation(server, user, pass string) (*turn.Client, net.PacketConn, func(), error) {
	conn, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, RTO: 200 * time.Millisecond,
		LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("turn client: %w", err)
	}
	if err := c.Listen(); err != nil {
		c.Close()
		conn.Close()
		return nil, nil, nil, fmt.Errorf("turn client: %w", err)
	}
	relay, err := c.Allocate()
	if err != nil {
		c.Close()
		conn.Close()
		return nil, nil, nil, fmt.Errorf("allocate on %s: %w", server, err)
	}
	return c, relay, func() { relay.Close(); c.Close(); conn.Close() }, nil
}

// stream sends a numbered datagram every 20ms for dur through a TURN
// allocation on server to peer, which echoes it, and counts the echoes.
func stream(out io.Writer, server, user, pass, peer string, dur time.Duration) error {
	peerAddr, err := net.ResolveUDPAddr("udp4", peer)
	if err != nil {
		return fmt.Errorf("peer %q: %w", peer, err)
	}
	_, relay, closeAll, err := allocation(server, user, pass)
	if err != nil {
		return err
	}
	defer closeAll()
	// The first datagram installs the permission; wait for its echo so
	// that "ready" means the stream flows.
	got := make(chan int, 1024)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := relay.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			if seq, err := strconv.Atoi(string(buf[:n])); err == nil {
				got <- seq
			}
		}
	}()
	if err := poll(5*time.Second, 200*time.Millisecond, func() bool {
		_, _ = relay.WriteTo([]byte("-1"), peerAddr)
		select {
		case <-got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}); err != nil {
		return fmt.Errorf("no echo from %s through %s: %w", peer, server, err)
	}
	fmt.Fprintln(out, "ready")
	seen := map[int]bool{}
	sent := 0
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.After(dur)
	drain := (<-chan time.Time)(nil)
	for {
		select {
		case <-tick.C:
			if _, err := relay.WriteTo([]byte(strconv.Itoa(sent)), peerAddr); err == nil {
				sent++
			}
		case seq, ok := <-got:
			if !ok {
				got = nil
				continue
			}
			if seq >= 0 {
				seen[seq] = true
			}
		case <-end:
			tick.Stop()
			drain = time.After(500 * time.Millisecond) // the last echoes
			end = nil
		case <-drain:
			fmt.Fprintf(out, "sent %d received %d\n", sent, len(seen))
			return nil
		}
	}
}

// probe runs one probe in node's namespace and returns its output.
func (e *Env) probe(ctx context.Context, node string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.lab.NS(node), e.cfg.Self, "probe"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("probe %s in %s: %w: %s", args[0], node, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// waitHTTP waits until url answers 200 from node's namespace.
func (e *Env) waitHTTP(ctx context.Context, node, url string, limit time.Duration) error {
	_, err := e.probe(ctx, node, "wait-http", url, limit.String())
	return err
}

// watcher is a running watch probe.
type watcher struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *strings.Builder
	first string
}

// startWatch starts a watch probe in node's namespace and returns once it
// is polling.
func (e *Env) startWatch(ctx context.Context, node string, args ...string) (*watcher, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.lab.NS(node), e.cfg.Self, "probe"}, args...)...)
	w := &watcher{cmd: cmd, lines: make(chan string, 4), errb: &strings.Builder{}}
	cmd.Stderr = w.errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("watch in %s: %w", node, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	l, ok := <-w.lines
	if !ok {
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s in %s did not start: %s", args[0], node, strings.TrimSpace(w.errb.String()))
	}
	w.first = l // "ready", or what the probe reports first
	return w, nil
}

// wait returns the time the watched condition first held.
func (w *watcher) wait() (time.Time, error) {
	var done time.Time
	for l := range w.lines {
		if ts, ok := strings.CutPrefix(l, "done "); ok {
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err == nil {
				done = time.Unix(0, ns)
			}
		}
	}
	err := w.cmd.Wait()
	if done.IsZero() {
		return done, fmt.Errorf("watch: %v: %s", err, strings.TrimSpace(w.errb.String()))
	}
	return done, nil
}

// jsonName returns the "name" field of a node info document.
func jsonName(body string) (string, error) {
	var info struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &info); err != nil {
		return "", fmt.Errorf("node info: %w", err)
	}
	return info.Name, nil
}

// rest returns the watcher's remaining output lines once it exits.
func (w *watcher) rest() ([]string, error) {
	var lines []string
	for l := range w.lines {
		lines = append(lines, l)
	}
	if err := w.cmd.Wait(); err != nil {
		return lines, fmt.Errorf("%w: %s", err, strings.TrimSpace(w.errb.String()))
	}
	return lines, nil
}
