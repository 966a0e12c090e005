package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/cluster"
)

// demoNode is one traffic node of zones/demo.yaml as the demo starts it.
type demoNode struct{ name, listen string }

// runDemo starts the whole system on loopback as child processes of this
// binary: director (embedded etcd), node agents, CoreDNS with the plugin.
// Ctrl-C stops them all and removes the temporary directory.
func runDemo(ctx context.Context, args []string, out io.Writer) (err error) {
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
	if err := checkPorts(demoPorts(site, *corefile == "")); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	dir, err := os.MkdirTemp("", "meridian-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
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

	procs := newSupervisor(filepath.Join(dir, "logs"), out)
	defer func() {
		procs.stop()
		demoCleanup(out, dir, *keep, err != nil || procs.Failed())
	}()
	if err := os.MkdirAll(procs.logDir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := procs.start("director", self, "director", "--name", site.Masters.Primary.Name,
		"--data", filepath.Join(dir, "director"), "--listen", director, "--site", *siteFile,
		"--psk-file", psk, "--admin-token-file", token, "--client-token-file", clientToken, "--geoip", *geo); err != nil {
		return err
	}
	if err := procs.waitUp(ctx, "director", directorURL+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("demo: director did not come up: %w", err)
	}
	// A self-signed certificate for every node's address, so the relays
	// serve turns: (TURN over TLS) too.
	var addrs []net.IP
	for _, n := range site.Nodes {
		for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
			if a.IsValid() {
				addrs = append(addrs, a.AsSlice())
			}
		}
	}
	cert, key := filepath.Join(dir, "relay-cert.pem"), filepath.Join(dir, "relay-key.pem")
	if err := writeDemoCert(cert, key, addrs); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var nodes []demoNode
	for _, n := range site.Nodes {
		nodes = append(nodes, demoNode{n.Name, n.Internal})
		if err := procs.start("node-"+n.Name, self, "node", "--name", n.Name, "--director", directorURL,
			"--site", site.Name, "--psk-file", psk, "--cache", filepath.Join(dir, "node-"+n.Name),
			"--listen", n.Internal, "--relay-tls-cert", cert, "--relay-tls-key", key); err != nil {
			return err
		}
	}
	if err := procs.start("dns", self, "dns", "-conf", *corefile); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := procs.waitUp(ctx, "node-"+n.name, "http://"+n.listen+"/healthz", 30*time.Second); err != nil {
			return fmt.Errorf("demo: node %s did not come up: %w", n.name, err)
		}
	}
	printDemo(out, site, directorURL, token, clientToken, nodes, procs.logDir)
	printDemoGeo(out, site, *geo, *geoNets)
	if k, err := readPSK(psk, false, slog.New(slog.DiscardHandler)); err == nil {
		// The relay secret goes to a file like the other secrets, never
		// to the terminal.
		secretFile := filepath.Join(dir, "relay-secret")
		if err := os.WriteFile(secretFile, append(cluster.RelaySecret(k), '\n'), 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		printTURN(out, site, secretFile, cert)
	}
	printFailureHelp(out, site, procs)
	procs.started()
	<-ctx.Done()
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
    ready 127.0.0.1:8181
    health 127.0.0.1:8180
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
	fmt.Fprintf(&b, "  console    %s/   log in with the admin token in %s\n", directorURL, token)
	for _, n := range nodes {
		fmt.Fprintf(&b, "  node       %-12s http://%s/healthz\n", n.name, n.listen)
	}
	fmt.Fprintf(&b, "  dns        127.0.0.1:1053   metrics http://127.0.0.1:9153/metrics  ready http://127.0.0.1:8181/ready  health http://127.0.0.1:8180/health\n")
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

// printTURN shows how to try the first node's relay with coturn's client
// over UDP, TCP and TLS; secretFile holds the relay secret.
func printTURN(out io.Writer, site *cluster.Site, secretFile, cert string) {
	n := site.Nodes[0]
	if !n.IPv4.IsValid() {
		return
	}
	udp, tls := n.Relay.UDPPort, n.Relay.TLSPort
	var b strings.Builder
	fmt.Fprintf(&b, "\nTURN relays, with coturn's client (turns: uses the self-signed %s):\n\n", cert)
	fmt.Fprintf(&b, "  SECRET=$(cat %s)\n", secretFile)
	fmt.Fprintf(&b, "  turnutils_uclient -W \"$SECRET\" -u demo -y -n 10 -p %d %s        # turn: over UDP\n", udp, n.IPv4)
	fmt.Fprintf(&b, "  turnutils_uclient -W \"$SECRET\" -u demo -y -n 10 -t -p %d %s     # turn: over TCP\n", udp, n.IPv4)
	if tls > 0 {
		fmt.Fprintf(&b, "  turnutils_uclient -W \"$SECRET\" -u demo -y -n 10 -t -S -p %d %s  # turns: (TLS over TCP)\n", tls, n.IPv4)
	}
	io.WriteString(out, b.String())
}

// writeDemoCert writes a self-signed ECDSA certificate for ips, valid for
// a week, and its key.
func writeDemoCert(certFile, keyFile string, ips []net.IP) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "meridian demo relay"},
		IPAddresses:  ips,
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
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
