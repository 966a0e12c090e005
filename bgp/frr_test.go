package bgp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// The FRR interop test: FRR's zebra and bgpd in one network namespace, the
// node's speaker in another, a veth pair between them. Addresses are from
// the documentation ranges and exist only inside the namespaces.
const (
	frrDir      = "/usr/lib/frr"
	frrBGPPort  = 1790 // inside FRR's own namespace; not 179 all the same
	frrRouterID = "192.0.2.2"
	frrInterval = 250 * time.Millisecond
	frrFall     = 2
	frrRise     = 2
	// envNode makes TestFRRNode run as the node's process of the family
	// it names (4 or 6); envRuns sets how many failovers TestFRRInterop
	// measures per family (default 1).
	envNode = "MERIDIAN_BGP_FRR_NODE"
	envRuns = "MERIDIAN_BGP_FRR_RUNS"
	// envPassword gives the node's speaker a TCP MD5 password.
	envPassword = "MERIDIAN_BGP_FRR_PASSWORD"
)

// frrFamily is one address family of the interop test: the session's
// addresses and the anycast prefix, all of that family (the speaker sends
// a family's routes only over a session of that family).
type frrFamily struct {
	name           string // "4" or "6"
	frr, node      string // the veth addresses
	bits           int
	prefix         string
	ipFlag, afName string // ip's family flag, FRR's address family
}

var frrFamilies = []frrFamily{
	{"4", "192.0.2.1", "192.0.2.2", 30, "198.51.100.0/24", "-4", "ipv4"},
	{"6", "2001:db8::1", "2001:db8::2", 64, "2001:db8:ffff::/48", "-6", "ipv6"},
}

func familyNamed(name string) (frrFamily, bool) {
	for _, f := range frrFamilies {
		if f.name == name {
			return f, true
		}
	}
	return frrFamily{}, false
}

// TestFRRInterop peers the speaker with FRR, once over IPv4 with an IPv4
// prefix and once over IPv6 with an IPv6 prefix (MP_REACH_NLRI, next hop
// the session's global address), checks that FRR installs the anycast
// route in its kernel table and removes it when the node's health
// endpoint dies, and measures how long that takes (MERIDIAN_BGP_FRR_RUNS=10
// for the benchmark figure; no timed assertion).
func TestFRRInterop(t *testing.T) {
	needFRR(t)
	runs := 1
	if v := os.Getenv(envRuns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", envRuns, v)
		}
		runs = n
	}

	for _, fam := range frrFamilies {
		t.Run("ipv"+fam.name, func(t *testing.T) { frrInterop(t, fam, runs) })
	}
}

func frrInterop(t *testing.T, fam frrFamily, runs int) {
	frrNS, nodeNS := newNetns(t, fam)
	startFRR(t, frrNS, fam)
	node := startNode(t, nodeNS, fam)

	if !waitRoute(t, frrNS, fam, true, 60*time.Second) {
		t.Fatalf("FRR never installed %s in its kernel table\n%s", fam.prefix, frrState(t, frrNS, fam))
	}
	var took []time.Duration
	for i := range runs {
		// The route returns right after a check; fail at a random point
		// of the check cycle, as a real failure would.
		time.Sleep(mrand.N(frrInterval))
		failed := node.command(t, "down")
		if !waitRoute(t, frrNS, fam, false, 10*time.Second) {
			t.Fatalf("run %d: route still in FRR's kernel table 10s after the health target died\n%s", i, frrState(t, frrNS, fam))
		}
		took = append(took, time.Since(failed))
		node.command(t, "up")
		if !waitRoute(t, frrNS, fam, true, 20*time.Second) {
			t.Fatalf("run %d: route not back after the health target returned\n%s", i, frrState(t, frrNS, fam))
		}
	}
	slices.Sort(took)
	t.Logf("IPv%s: health target down -> route gone from FRR's kernel table (interval %s, fall %d, %d runs): median %s, max %s, all %v",
		fam.name, frrInterval, frrFall, runs, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took)
}

// needFRR skips a test that cannot run FRR in network namespaces here.
func needFRR(t *testing.T) {
	t.Helper()
	if os.Getenv(envNode) != "" {
		t.Skip("the node process runs TestFRRNode only")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, f := range []string{filepath.Join(frrDir, "zebra"), filepath.Join(frrDir, "bgpd")} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("FRR not installed: %v", err)
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
}

// newNetns creates the two namespaces and the veth pair between them; all
// of it goes away in Cleanup.
func newNetns(t *testing.T, fam frrFamily) (frrNS, nodeNS string) {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	frrNS, nodeNS = "mrd-frr-"+id, "mrd-node-"+id
	vf, vn := "mrdf"+id, "mrdn"+id // interface names stay under 15 bytes
	for _, ns := range []string{frrNS, nodeNS} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	ipCmd(t, "link", "add", vf, "netns", frrNS, "type", "veth", "peer", "name", vn, "netns", nodeNS)
	// nodad: an IPv6 address serves at once, without duplicate address
	// detection.
	ipCmd(t, "-n", frrNS, "addr", "add", fmt.Sprintf("%s/%d", fam.frr, fam.bits), "dev", vf, "nodad")
	ipCmd(t, "-n", nodeNS, "addr", "add", fmt.Sprintf("%s/%d", fam.node, fam.bits), "dev", vn, "nodad")
	ipCmd(t, "-n", frrNS, "link", "set", vf, "up")
	ipCmd(t, "-n", nodeNS, "link", "set", vn, "up")
	return frrNS, nodeNS
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// startFRR runs zebra and bgpd in ns with every path under a temp dir;
// password, when set, is the node neighbor's TCP MD5 password. It returns
// the directory of FRR's vty sockets.
func startFRR(t *testing.T, ns string, fam frrFamily, password ...string) string {
	// The daemons drop to the frr user (FRR insists its vty group holds
	// the user it runs as) and must reach and write this directory; the
	// test's own temp dir is private to root.
	dir, err := os.MkdirTemp("", "meridian-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	zsock := filepath.Join(dir, "zserv.api")
	bgpConf := fmt.Sprintf(`frr defaults traditional
hostname frr-%[1]s
log file %[2]s/bgpd.log
!
router bgp 65000
 bgp router-id %[3]s
 no bgp ebgp-requires-policy
 neighbor %[4]s remote-as 65101
 neighbor %[4]s passive
 neighbor %[4]s timers 3 9
 address-family %[5]s unicast
  neighbor %[4]s activate
 exit-address-family
!
`, ns, dir, frrRouterIDOf(fam), fam.node, fam.afName)
	if len(password) > 0 && password[0] != "" {
		bgpConf = strings.Replace(bgpConf, " neighbor "+fam.node+" passive\n",
			" neighbor "+fam.node+" passive\n neighbor "+fam.node+" password "+password[0]+"\n", 1)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zebraConf := write("zebra.conf", "hostname zebra\n")
	bgpdConf := write("bgpd.conf", bgpConf)
	common := []string{"-u", "frr", "-g", "frr", "-P", "0", "--vty_socket", dir, "-z", zsock}
	daemon(t, ns, dir, "zebra", append([]string{"-f", zebraConf, "-i", filepath.Join(dir, "zebra.pid")}, common...)...)
	// bgpd connects to zebra's socket; wait for it so the first routes are
	// not lost to a retry timer.
	testkit.Eventually(t, 10*time.Second, "zebra to create "+zsock, func() bool { _, err := os.Stat(zsock); return err == nil })
	daemon(t, ns, dir, "bgpd", append([]string{"-f", bgpdConf, "-i", filepath.Join(dir, "bgpd.pid"),
		"-p", strconv.Itoa(frrBGPPort), "-l", fam.frr}, common...)...)
	return dir
}

// daemon starts an FRR daemon in the foreground and kills it in Cleanup;
// its output is shown if the test fails.
func daemon(t *testing.T, ns, dir, name string, args ...string) {
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, filepath.Join(frrDir, name)}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s output:\n%s", name, b)
		}
	})
}

// frrRouterIDOf is FRR's BGP identifier: its IPv4 address, or a fixed
// one on the IPv6 link.
func frrRouterIDOf(fam frrFamily) string {
	if fam.name == "4" {
		return fam.frr
	}
	return "192.0.2.1"
}

// hasRoute reports whether FRR's namespace has the anycast route in its
// kernel table, through the node's address.
func hasRoute(t *testing.T, ns string, fam frrFamily) bool {
	out, err := exec.Command("ip", "-n", ns, fam.ipFlag, "route", "show", fam.prefix).Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	return strings.Contains(string(out), "via "+fam.node+" ")
}

// waitRoute polls every 5ms until the route is present (or gone).
func waitRoute(t *testing.T, ns string, fam frrFamily, present bool, within time.Duration) bool {
	return testkit.PollEvery(within, 5*time.Millisecond, func() bool { return hasRoute(t, ns, fam) == present })
}

func frrState(t *testing.T, ns string, fam frrFamily) string {
	var b strings.Builder
	for _, args := range [][]string{{"-n", ns, fam.ipFlag, "route"}, {"-n", ns, "addr"}} {
		out, _ := exec.Command("ip", args...).CombinedOutput()
		fmt.Fprintf(&b, "$ ip %s\n%s", strings.Join(args, " "), out)
	}
	return b.String()
}

// nodeProc is the node's process, run in its namespace: the test binary
// in TestFRRNode, spoken to line by line; its stderr is the node's log.
type nodeProc struct{ *testkit.Child }

// startNode runs the node's process of family fam in ns; env adds to its
// environment.
func startNode(t *testing.T, ns string, fam frrFamily, env ...string) *nodeProc {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestFRRNode$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envNode+"="+fam.name), env...)
	return &nodeProc{testkit.StartChild(t, cmd)}
}

// command sends one line to the node and returns the time it reports for
// doing it.
func (p *nodeProc) command(t *testing.T, cmd string) time.Time {
	t.Helper()
	ts := p.ask(t, cmd)
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("node answered %q %q", cmd, ts)
	}
	return time.Unix(0, ns)
}

// ask sends cmd to the node and returns the rest of its answer, the line
// that starts with cmd, within 10 seconds.
func (p *nodeProc) ask(t *testing.T, cmd string) string {
	t.Helper()
	p.Send(t, cmd)
	return p.Expect(t, cmd+" ", 10*time.Second)
}

// TestFRRNode is the node side of TestFRRInterop, run in the node's
// namespace: a health endpoint and the speaker checking it. Commands on
// stdin: "down" closes the endpoint, "up" reopens it; each is answered
// with the command and the time it took effect. EOF stops the node.
func TestFRRNode(t *testing.T) {
	fam, ok := familyNamed(os.Getenv(envNode))
	if !ok {
		t.Skip("runs only inside TestFRRInterop")
	}
	h := &nodeHealth{}
	if err := h.open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer h.close()
	logger := newStderrLogger()
	b := cluster.DefaultBGP()
	b.ASN, b.RouterID = speakerASN, netip.MustParseAddr(frrRouterID)
	nb := cluster.DefaultBGPNeighbor()
	nb.Address, nb.Port, nb.ASN = netip.MustParseAddr(fam.frr), frrBGPPort, routerASN
	nb.Hold, nb.Keepalive = cluster.Duration(9*time.Second), cluster.Duration(3*time.Second)
	if pw := os.Getenv(envPassword); pw != "" {
		nb.PasswordFile = filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(nb.PasswordFile, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.Neighbors = []cluster.BGPNeighbor{nb}
	b.Check.Target, b.Check.Interval, b.Check.Rise, b.Check.Fall = h.addr, cluster.Duration(frrInterval), frrRise, frrFall
	b.Check.Timeout = min(b.Check.Timeout, b.Check.Interval)
	b.GracefulShutdown, b.MinAnnounceInterval = 0, 0 // no waits unless a test sets them
	sp, err := New(Config{
		BGP:          b,
		Anycast:      []netip.Prefix{netip.MustParsePrefix(fam.prefix)},
		ConnectRetry: time.Second,
		Logger:       logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sp.Run(ctx) }()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "down":
			h.close()
		case "up":
			if err := h.open(h.addr); err != nil {
				t.Error(err)
			}
		case "status":
			st, err := sp.Status(ctx)
			if err != nil {
				t.Error(err)
			}
			b, _ := json.Marshal(st)
			fmt.Printf("status %s\n", b)
			continue
		default:
			continue
		}
		fmt.Printf("%s %d\n", sc.Text(), time.Now().UnixNano())
	}
	cancel()
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

type nodeHealth struct {
	mu   sync.Mutex
	addr string
	srv  *http.Server
}

func (h *nodeHealth) open(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addr = l.Addr().String()
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: time.Second}
	go func() { _ = h.srv.Serve(l) }()
	return nil
}

func (h *nodeHealth) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
		h.srv = nil
	}
}

func newStderrLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// status asks the node for its speaker's status.
func (p *nodeProc) status(t *testing.T) Status {
	t.Helper()
	js := p.ask(t, "status")
	var st Status
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("node status %q: %v", js, err)
	}
	return st
}

// TestFRRSessionTruth peers the speaker with FRR and checks what its
// status says of the session: "active" or "connect" while it dials, never
// "idle"; a TCP MD5 password that differs from FRR's shows as a last
// error in the status and one warning in the node's log; a session FRR
// resets comes back after connect_retry (1 s here), not GoBGP's fixed
// 5 s, reported as a figure.
func TestFRRSessionTruth(t *testing.T) {
	needFRR(t)
	tests := []struct {
		name             string
		frrPass, ourPass string
		established      bool
	}{
		{"same md5 password", "frr-md5-secret", "frr-md5-secret", true},
		{"wrong md5 password", "frr-md5-secret", "not-the-frr-secret", false},
		{"md5 on frr only", "frr-md5-secret", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fam := frrFamilies[0]
			frrNS, nodeNS := newNetns(t, fam)
			vty := startFRR(t, frrNS, fam, tt.frrPass)
			var env []string
			if tt.ourPass != "" {
				env = append(env, envPassword+"="+tt.ourPass)
			}
			node := startNode(t, nodeNS, fam, env...)
			// Dialling: sample the state; "idle" after the first
			// half second would be the old lie.
			start := time.Now()
			states := map[string]int{}
			var st Status
			for time.Since(start) < 4*time.Second {
				st = node.status(t)
				if len(st.Neighbors) != 1 {
					t.Fatalf("status has %d neighbors", len(st.Neighbors))
				}
				s := st.Neighbors[0].State
				states[s]++
				if s == "idle" && time.Since(start) > 500*time.Millisecond {
					t.Errorf("status says idle %s after start while the speaker dials", time.Since(start).Round(time.Millisecond))
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("states over the first 4s: %v", states)
			if tt.established {
				deadline := time.Now().Add(30 * time.Second)
				for st = node.status(t); st.Neighbors[0].State != "established"; st = node.status(t) {
					if time.Now().After(deadline) {
						t.Fatalf("session not established: %+v", st.Neighbors[0])
					}
					time.Sleep(100 * time.Millisecond)
				}
				// FRR resets the session; the speaker must try again
				// connect_retry later.
				reset := time.Now()
				if out, err := exec.Command("ip", "netns", "exec", frrNS, "vtysh", "--vty_socket", vty, "-c", "clear ip bgp *").CombinedOutput(); err != nil {
					t.Fatalf("vtysh clear: %v: %s", err, out)
				}
				sawDown := false
				deadline = time.Now().Add(30 * time.Second)
				for {
					st = node.status(t)
					s := st.Neighbors[0].State
					if s != "established" {
						sawDown = true
					}
					if sawDown && s == "established" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("session not back 30s after FRR reset it: %+v", st.Neighbors[0])
					}
					time.Sleep(20 * time.Millisecond)
				}
				t.Logf("FRR reset -> session established again: %s (connect_retry 1s; GoBGP alone waits 5s idle, then dials)", time.Since(reset).Round(time.Millisecond))
				if !sawDown {
					t.Error("the session never left established after FRR's reset")
				}
				return
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				st = node.status(t)
				if strings.Contains(st.Neighbors[0].LastError, "no TCP session") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no last error 30s after start: %+v", st.Neighbors[0])
				}
				time.Sleep(200 * time.Millisecond)
			}
			n := st.Neighbors[0]
			if n.State != "active" && n.State != "connect" {
				t.Errorf("state %q, want active or connect", n.State)
			}
			if !strings.Contains(n.LastError, "MD5") || !strings.Contains(n.Reason, "no TCP session") {
				t.Errorf("reason %q, last error %q: want the MD5 hint", n.Reason, n.LastError)
			}
			time.Sleep(2500 * time.Millisecond) // another reconcile or two
			if c := strings.Count(node.Stderr.String(), "bgp session not coming up"); c != 1 {
				t.Errorf("the node logged the stuck session %d times, want 1:\n%s", c, node.Stderr.String())
			}
			t.Logf("status: %s / %s", n.State, n.LastError)
		})
	}
}
