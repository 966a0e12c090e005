package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/cluster"
)

// demoNode is one traffic node of zones/demo.yaml as the demo starts it.
type demoNode struct{ name, listen string }

// runDemo starts the whole system on loopback as child processes of this
// binary: director (embedded etcd), node agents, CoreDNS with the plugin.
// Ctrl-C stops them all and removes the temporary directory.
func runDemo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	siteFile := fs.String("site", "zones/demo.yaml", "site file")
	corefile := fs.String("corefile", "", "Corefile (default: generated for 127.0.0.1:1053)")
	keep := fs.Bool("keep", false, "keep the temporary directory on exit")
	geo := fs.String("geoip", "", "GeoIP City database for the director and the DNS server (make run writes one from zones/demo-geoip.yaml)")
	geoNets := fs.String("geoip-networks", "zones/demo-geoip.yaml", "the networks of --geoip, for the dig commands printed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*siteFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	site, err := cluster.Parse(*siteFile, data)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	dir, err := os.MkdirTemp("", "meridian-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	psk, token, clientToken := filepath.Join(dir, "psk"), filepath.Join(dir, "admin-token"), filepath.Join(dir, "client-token")
	for _, f := range []string{psk, token, clientToken} {
		if err := os.WriteFile(f, []byte(randomHex(32)+"\n"), 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	director := site.Masters.Primary.Internal
	directorURL := "http://" + director
	if *corefile == "" {
		*corefile = filepath.Join(dir, "Corefile")
		if err := os.WriteFile(*corefile, []byte(demoCorefile(site, directorURL, psk, dir, *geo)), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	procs := &procSet{logDir: filepath.Join(dir, "logs")}
	defer procs.stop(out)
	if err := os.MkdirAll(procs.logDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := procs.start(self, "director", "director", "--name", site.Masters.Primary.Name,
		"--data", filepath.Join(dir, "director"), "--listen", director, "--site", *siteFile,
		"--psk-file", psk, "--admin-token-file", token, "--client-token-file", clientToken, "--geoip", *geo); err != nil {
		return err
	}
	if err := waitHTTP(ctx, directorURL+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("demo: director did not come up (see %s): %w", procs.logDir, err)
	}
	var nodes []demoNode
	for _, n := range site.Nodes {
		nodes = append(nodes, demoNode{n.Name, n.Internal})
		if err := procs.start(self, "node-"+n.Name, "node", "--name", n.Name, "--director", directorURL,
			"--site", site.Name, "--psk-file", psk, "--cache", filepath.Join(dir, "node-"+n.Name),
			"--listen", n.Internal); err != nil {
			return err
		}
	}
	if err := procs.start(self, "dns", "dns", "-conf", *corefile); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := waitHTTP(ctx, "http://"+n.listen+"/healthz", 30*time.Second); err != nil {
			return fmt.Errorf("demo: node %s did not come up (see %s): %w", n.name, procs.logDir, err)
		}
	}
	printDemo(out, site, directorURL, token, clientToken, nodes, procs.logDir)
	printDemoGeo(out, site, *geo, *geoNets)
	select {
	case <-ctx.Done():
	case name := <-procs.exited:
		fmt.Fprintf(out, "\n%s exited; stopping (logs in %s)\n", name, procs.logDir)
	}
	return nil
}

// demoCorefile serves the whole zone from the site (static records, SOA
// and NS included), with the demo's GeoIP database when there is one.
func demoCorefile(site *cluster.Site, directorURL, psk, dir, geo string) string {
	geoLine := ""
	if geo != "" {
		geoLine = "geoip " + geo
	}
	return fmt.Sprintf(`%s:1053 {
    bind 127.0.0.1
    meridian {
        director %s
        psk_file %s
        cache_dir %s
        %s
        explain on
    }
    prometheus 127.0.0.1:9153
    errors
}
`, site.Zone, directorURL, psk, filepath.Join(dir, "dns"), geoLine)
}

// demoNetwork is one entry of zones/demo-geoip.yaml.
type demoNetwork struct {
	Network string `yaml:"network"`
	City    string `yaml:"city"`
	Node    string `yaml:"node"`
}

// printDemoGeo shows the geo answers of the demo's GeoIP database, which
// the director (ctl explain) and the DNS server both read.
func printDemoGeo(out io.Writer, site *cluster.Site, geo, networks string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  dig @127.0.0.1 -p 1053 %s NS   # SOA, NS and static records come from the site file\n", site.Zone)
	if geo == "" {
		fmt.Fprintf(&b, "\nNo GeoIP database (--geoip): geo answers fall back; `make run` writes one.\n")
		io.WriteString(out, b.String())
		return
	}
	var nets []demoNetwork
	if data, err := os.ReadFile(networks); err == nil {
		_ = yaml.Unmarshal(data, &nets)
	}
	fmt.Fprintf(&b, "\nGeoIP %s (director and DNS server), by client subnet:\n\n", geo)
	for _, n := range nets {
		fmt.Fprintf(&b, "  dig @127.0.0.1 -p 1053 %s A +subnet=%s   # %s: %s\n", site.TrafficHostname, n.Network, n.City, n.Node)
	}
	if len(nets) > 0 {
		if p, err := netip.ParsePrefix(nets[0].Network); err == nil {
			fmt.Fprintf(&b, "  bin/meridian ctl explain %s\n", p.Addr().Next())
		}
	}
	io.WriteString(out, b.String())
}

func printDemo(out io.Writer, site *cluster.Site, directorURL, token, clientToken string, nodes []demoNode, logs string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMeridian is running on loopback (Ctrl-C stops everything).\n\n")
	fmt.Fprintf(&b, "  director   %s   admin token in %s\n", directorURL, token)
	for _, n := range nodes {
		fmt.Fprintf(&b, "  node       %-12s http://%s/healthz\n", n.name, n.listen)
	}
	fmt.Fprintf(&b, "  dns        127.0.0.1:1053   metrics http://127.0.0.1:9153/metrics\n")
	fmt.Fprintf(&b, "  logs       %s\n\n", logs)
	fmt.Fprintf(&b, "Try, in another terminal:\n\n")
	fmt.Fprintf(&b, "  export MERIDIAN_DIRECTOR=%s MERIDIAN_TOKEN_FILE=%s\n", directorURL, token)
	fmt.Fprintf(&b, "  bin/meridian ctl status\n  bin/meridian ctl nodes\n")
	fmt.Fprintf(&b, "  dig @127.0.0.1 -p 1053 %s A\n", site.SupportHostname)
	fmt.Fprintf(&b, "  dig @127.0.0.1 -p 1053 %s A +subnet=10.2.0.0/24\n", site.TrafficHostname)
	fmt.Fprintf(&b, "  dig @127.0.0.1 -p 1053 _turn._udp.%s SRV\n", site.TrafficHostname)
	fmt.Fprintf(&b, "  dig @127.0.0.1 -p 1053 _explain.%s TXT +subnet=10.1.0.0/24\n", site.TrafficHostname)
	fmt.Fprintf(&b, "  bin/meridian ctl explain 10.1.2.3\n")
	fmt.Fprintf(&b, "  bin/meridian ctl drain %s && bin/meridian ctl nodes\n", nodes[0].name)
	fmt.Fprintf(&b, "  bin/meridian ctl sync && bin/meridian ctl sync --history\n")
	fmt.Fprintf(&b, "  bin/meridian ctl apply -f zones/demo.yaml && bin/meridian ctl history\n")
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $(cat %s)\" -d '{\"address\":\"10.2.0.7\"}' %s/v1/sessions\n", clientToken, directorURL)
	fmt.Fprintf(&b, "  bin/meridian ctl clients\n")
	io.WriteString(out, b.String())
}

// procSet is the demo's child processes.
type procSet struct {
	logDir string
	mu     sync.Mutex
	procs  []*child
	exited chan string
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (p *procSet) start(self, name string, args ...string) error {
	if p.exited == nil {
		p.exited = make(chan string, 16)
	}
	logf, err := os.Create(filepath.Join(p.logDir, name+".log"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: the terminal's Ctrl-C reaches only the demo, which
	// then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("demo: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	p.mu.Lock()
	p.procs = append(p.procs, c)
	p.mu.Unlock()
	go func() {
		cmd.Wait()
		logf.Close()
		close(c.done)
		p.exited <- name
	}()
	return nil
}

// stop sends SIGTERM to every child, newest first, and SIGKILL to any still
// running after ten seconds.
func (p *procSet) stop(out io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.procs) - 1; i >= 0; i-- {
		p.procs[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	expired := false
	for _, c := range p.procs {
		if !expired {
			select {
			case <-c.done:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-c.done:
		default:
			fmt.Fprintf(out, "demo: %s did not stop; killing it\n", c.name)
			c.cmd.Process.Kill()
			<-c.done
		}
	}
}

func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
